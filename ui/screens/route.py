"""Route download (抄表数据下载, with a progress bar) and the route list with search by customer
number, name or meter barcode (a scan on this screen opens that customer)."""

from __future__ import annotations

from typing import Any

import urwid

from ui.commands import command
from ui.i18n import N_
from ui.screens.base import Screen
from ui.widgets import KeypadEdit, row


class RouteDownload(Screen):
    name = "route_download"
    title = "Download route"
    softkeys = (("Back", "back"), ("Refresh", "load"))

    failed = False

    def build(self) -> None:
        segs = getattr(self, "segments", None)
        if self.failed:
            self.set_rows([urwid.Text(("error", self._("The list of segments could not be fetched."))),
                           urwid.Text(("dim", self._("F2 asks again (move to better signal first).")))])
        elif segs is None:
            self.set_rows([urwid.Text(self._("Asking the station for the segments…"))])
        elif not segs:
            self.set_rows([urwid.Text(self._("The station lists no segments for this terminal."))])
        else:
            rows: list[urwid.Widget] = [urwid.Text(("dim", self._("Pick a segment, Enter downloads it.")))]
            rows += [row(f"{seg} {name} {n}{self._(' cust.')}", seg) for seg, name, n in segs]
            self.set_rows(rows)

    def on_show(self) -> None:
        if getattr(self, "segments", None) is None and not self.failed:
            self.do_load()

    @command("load")
    def do_load(self) -> None:
        def done(segs: list[tuple[str, str, int]]) -> None:
            self.segments = segs
            self.failed = False
            self.refresh()

        def failed(_e: BaseException) -> None:  # the error itself is on the message line
            self.segments = None
            self.failed = True
            self.refresh()
        self.app.run_task(self._("Asking the station"), self.app.backend.segments, done=done, failed=failed,
                          cancellable=True)

    def on_select(self) -> None:
        seg = self.focused_value()
        if seg is None:
            return

        def done(n: int) -> None:
            self.app.replace("route_list", purpose="read")
            self.app.notify(self._("Segment {seg}: {n} customers downloaded.").format(seg=seg, n=n))
        # cancellable: a download resumes where it stopped (pages already stored are kept)
        self.app.run_task(self._("Downloading segment {seg}").format(seg=seg), self.app.backend.download_route,
                          seg, self.app.progress, done=done, cancellable=True)


class MoveListBox(urwid.ListBox):
    """The route's list: while a customer is being moved (walking order), Up/Down move it instead
    of the focus (the keys go on to the screen's ``move_up`` / ``move_down``)."""

    def __init__(self, walker: urwid.ListWalker, screen: RouteList) -> None:
        super().__init__(walker)
        self.screen = screen

    def keypress(self, size: tuple[int, int], key: str) -> str | None:  # type: ignore[override]
        if self.screen.moving is not None and key in ("up", "down"):
            return key
        search = self.screen.search
        if len(key) == 1 and key.isascii() and key.isalnum() and self.focus is not search \
                and self.screen.moving is None and search in self.body:
            # a digit typed on the list starts the search (as on a keypad device: no Up first)
            self.set_focus(self.body.index(search))
        return super().keypress(size, key)  # type: ignore[no-any-return]


def progress(customers: list[Any], segment: str) -> tuple[int, int]:
    """(visited today, customers) of ``segment`` in ``customers``."""
    mine = [c for c in customers if c.segment == segment]
    return sum(1 for c in mine if c.read_today), len(mine)


class RouteList(Screen):
    """Customers of the downloaded route; type a number, name or barcode and press Enter to search.

    The route walk (purpose "read"): the whole route shows each segment with its progress
    (visited / customers, also on the status line), the customers in walking order marked ✓ read
    or × skipped; F3 opens the next customer not visited today (after the one last opened, in
    walking order); F4 skips the focused customer with an abnormal code (门闭 …: a visit); "."
    picks the focused customer up, Up/Down move it, "." (or Enter) puts it down — the walking
    order is kept on the terminal and outlives every download (new customers come last)."""

    name = "route_list"
    title = "Route"

    def __init__(self, app: Any, purpose: str = "read", **params: Any) -> None:
        self.purpose = purpose
        self.customers: list[Any] | None = None
        self.full = False  # the list is the whole route (not a search's answer)
        self.moving: str | None = None  # the customer being moved (walking order)
        self.last: str | None = None  # the customer opened last (next-unread goes on after it)
        self.search = KeypadEdit("", max_len=32, digits=False)
        super().__init__(app, purpose=purpose, **params)
        self.widget = MoveListBox(self.walker, self)
        self.build()

    @property
    def softkeys(self) -> tuple[tuple[str, str] | None, ...]:  # type: ignore[override]
        if self.purpose == "read":
            return (("Back", "back"), ("All", "all"), ("Next", "next"), ("Skip", "skip"))
        return (("Back", "back"), ("All", "all"))

    @property
    def keys(self) -> tuple[tuple[str, str, str], ...]:  # type: ignore[override]
        if self.purpose != "read":
            return ()
        if self.moving is not None:
            return ((".", "move", N_("Put down")), ("up", "move_up", N_("Move up")),
                    ("down", "move_down", N_("Move down")))
        return ((".", "move", N_("Move")),)

    def build(self) -> None:
        _ = self._
        self.search.set_caption(_("Find: "))
        rows: list[urwid.Widget] = [self.search]
        focus: int | None = None
        if self.customers is None:
            rows.append(urwid.Text(_("Loading the route…")))
        elif not self.customers:
            rows.append(urwid.Text(_("No customer found. Download the route first, or search again.")))
        else:
            segment = None
            for c in self.customers[:400]:  # a segment is ~100–300 customers; the search narrows it
                if self.full and c.segment != segment:
                    segment = c.segment
                    done, total = progress(self.customers, segment)
                    rows.append(urwid.Text(("dim", _("Segment {seg}: {done}/{total} visited").format(
                        seg=segment, done=done, total=total))))
                mark = "↕" if c.number == self.moving else "×" if getattr(c, "skipped", False) \
                    else "✓" if c.read_today else " "
                if c.number in (self.moving, self.last) and focus is None:
                    focus = len(rows)  # back from a customer: on that customer
                rows.append(row(f"{mark}{c.number} {c.name}", c))
            if focus is None:
                focus = 2 if self.full else 1  # the first customer (below its segment's line)
        self.set_rows(rows, focus=focus if focus is not None else 0)
        self._show_progress()

    def _show_progress(self) -> None:
        """The walked segment's progress on the status line (the segment of the focused customer)."""
        if self.purpose != "read" or not self.full or not self.customers:
            return
        c = self.focused_value() or next((x for x in self.customers if x.number == self.last), None)
        seg = c.segment if c is not None else self.customers[0].segment
        self.app.walk_progress = progress(self.customers, seg)
        self.app.walk_customers = frozenset(x.number for x in self.customers if x.segment == seg)

    def on_show(self) -> None:
        if self.customers is None:
            self.do_all()
            return
        # back from a customer: the marks of the customers visited meanwhile (local, no task)
        import dataclasses

        try:
            visits = self.app.backend.visits_today()
        except Exception as e:  # noqa: BLE001 — shown; the list stays as it was
            self.app.show_error(e)
            return
        self.customers = [dataclasses.replace(c, read_today=c.number in visits,
                                              skipped=visits.get(c.number) == "skipped") for c in self.customers]
        self.refresh()

    @command("all")
    def do_all(self) -> None:
        self.search.set_edit_text("")
        self._load(self.app.backend.route)

    def _load(self, fn: Any, *args: Any, then: Any = None) -> None:
        def done(found: list[Any]) -> None:
            self.customers = found
            self.full = not args
            self.refresh()
            if then is not None:
                then()
            elif len(found) == 1 and args:
                self.open(found[0])
        self.app.run_task(self._("Searching"), fn, *args, done=done)

    def on_select(self) -> None:
        if self.moving is not None:
            self.do_move()
            return
        if self.widget.focus is self.search:
            q = self.search.edit_text.strip()
            if q:
                self._load(self.app.backend.search, q)
            return
        c = self.focused_value()
        if c is not None:
            self.open(c)

    def open(self, c: Any) -> None:
        self.last = c.number
        if self.purpose == "charge":
            self.app.push("bill", customer=c)
        else:
            self.app.push("customer", customer=c)

    # ---- the route walk ---------------------------------------------------------------------
    @command("next")
    def do_next(self) -> None:
        """Open the next customer not visited today, after the one opened last (walking order)."""
        if not self.full:
            self.search.set_edit_text("")
            self._load(self.app.backend.route, then=self.do_next)
            return
        custs = self.customers or []
        if not custs:
            self.app.set_message(self._("No route on the terminal: download one first."), "warn")
            return
        numbers = [c.number for c in custs]
        start = numbers.index(self.last) + 1 if self.last in numbers else 0
        for c in custs[start:] + custs[:start]:
            if not c.read_today:
                self.open(c)
                return
        self.app.notify(self._("Every customer of the route is visited today."))

    @command("skip")
    def do_skip(self) -> None:
        c = self.focused_value()
        if c is None:
            self.app.set_message(self._("Pick the customer to skip first (arrows)."), "warn")
            return
        if c.read_today and not getattr(c, "skipped", False):
            self.app.set_message(self._("{cust} is read today already.").format(cust=c.number), "warn")
            return
        self.last = c.number
        self.app.push("skip", customer=c)

    @command("move")
    def do_move(self) -> None:
        if self.moving is not None:  # put it down: the segment's order is kept
            c = next(x for x in self.customers or [] if x.number == self.moving)
            self.moving = None
            order = [x.number for x in self.customers or [] if x.segment == c.segment]
            try:
                self.app.backend.set_walk_order(c.segment, order)  # the local store: no device, no link
            except Exception as e:  # noqa: BLE001 — shown; the order on screen is not kept
                self.app.show_error(e)
            else:
                self.app.notify(self._("Walking order of segment {seg} kept.").format(seg=c.segment))
            self.refresh()
            return
        c = self.focused_value()
        if c is None or not self.full:
            self.app.set_message(self._("Show the whole route (F2), pick a customer, then '.' moves it."), "warn")
            return
        self.moving = self.last = c.number
        self.refresh()
        self.app.set_message(self._("Up/Down move {cust}; '.' puts it down.").format(cust=c.number))

    def _step(self, delta: int) -> None:
        custs = self.customers or []
        i = next(i for i, x in enumerate(custs) if x.number == self.moving)
        j = i + delta
        if 0 <= j < len(custs) and custs[j].segment == custs[i].segment:
            custs[i], custs[j] = custs[j], custs[i]
            self.refresh()

    @command("move_up")
    def do_move_up(self) -> None:
        self._step(-1)

    @command("move_down")
    def do_move_down(self) -> None:
        self._step(1)

    def on_back(self) -> bool:
        if self.moving is not None:  # Esc while moving: the order as it was
            self.moving = None
            self.customers = None
            self.do_all()
            return True
        self.app.walk_progress = None
        return False

    def on_scan(self, code: str) -> bool:
        self.search.set_edit_text("")
        self._load(self.app.backend.search, code)
        return True

    def scan_target(self) -> str | None:
        c = self.focused_value()
        return getattr(c, "meter", None) or None


class SkipVisit(Screen):
    """Skip a door with a reason (门闭, 表计未找到 …): the abnormality is registered (journaled and
    uploaded like a reading) and the customer counts as visited."""

    name = "skip"
    title = "Skip with a reason"
    kind = "menu"
    softkeys = (None, None, None, ("Back", "back"))

    def __init__(self, app: Any, customer: Any, **params: Any) -> None:
        self.customer = customer
        super().__init__(app, customer=customer, **params)

    def build(self) -> None:
        _ = self._
        c = self.customer
        rows: list[urwid.Widget] = [urwid.Text(f"{c.number} {c.name}"), urwid.Text(_("Why is it not read?"))]
        rows += [row(f"{i} {_(label)}", code) for i, (code, label) in enumerate(self.codes(), 1)]
        self.set_rows(rows)

    def codes(self) -> list[tuple[str, str]]:
        return list(self.app.backend.abnormal_codes())

    def on_pick(self, n: int) -> None:
        codes = self.codes()
        if 1 <= n <= len(codes):
            self._register(codes[n - 1])

    def on_select(self) -> None:
        code = self.focused_value()
        label = dict(self.codes()).get(code) if code is not None else None
        if code is not None and label is not None:
            self._register((code, label))

    def _register(self, code: tuple[str, str]) -> None:
        def done(_ok: bool) -> None:
            self.app.pop()
            self.app.notify(self._("{cust} skipped: {why}.").format(cust=self.customer.number, why=self._(code[1])))
        self.app.run_task(self._("Registering the abnormality"), self.app.backend.register_abnormal,
                          self.customer.number, code[0], done=done)
