"""Route download (抄表数据下载, with a progress bar) and the route list with search by customer
number, name or meter barcode (a scan on this screen opens that customer)."""

from __future__ import annotations

from typing import Any

import urwid

from ui.commands import command
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


class RouteList(Screen):
    """Customers of the downloaded route; type a number, name or barcode and press Enter to search."""

    name = "route_list"
    title = "Route"
    softkeys = (("Back", "back"), ("All", "all"))

    def __init__(self, app: Any, purpose: str = "read", **params: Any) -> None:
        self.purpose = purpose
        self.customers: list[Any] | None = None
        self.search = KeypadEdit("", max_len=32, digits=False)
        super().__init__(app, purpose=purpose, **params)

    def build(self) -> None:
        _ = self._
        self.search.set_caption(_("Find: "))
        rows: list[urwid.Widget] = [self.search]
        if self.customers is None:
            rows.append(urwid.Text(_("Loading the route…")))
        elif not self.customers:
            rows.append(urwid.Text(_("No customer found. Download the route first, or search again.")))
        else:
            for c in self.customers[:200]:  # a segment is ~100–300 customers; the search narrows it
                mark = "✓" if c.read_today else " "
                rows.append(row(f"{mark}{c.number} {c.name}", c))
        self.set_rows(rows, focus=1 if self.customers else 0)

    def on_show(self) -> None:
        if self.customers is None:
            self.do_all()
            return
        # back from a customer: the ✓ of the customers read meanwhile (local, no task)
        import dataclasses

        try:
            read = self.app.backend.read_today()
        except Exception as e:  # noqa: BLE001 — shown; the list stays as it was
            self.app.show_error(e)
            return
        focus = self.walker.focus
        self.customers = [dataclasses.replace(c, read_today=c.number in read) for c in self.customers]
        self.refresh()
        if focus is not None and focus < len(self.walker):
            self.walker.set_focus(focus)

    @command("all")
    def do_all(self) -> None:
        self.search.set_edit_text("")
        self._load(self.app.backend.route)

    def _load(self, fn: Any, *args: Any) -> None:
        def done(found: list[Any]) -> None:
            self.customers = found
            self.refresh()
            if len(found) == 1 and args:
                self.open(found[0])
        self.app.run_task(self._("Searching"), fn, *args, done=done)

    def on_select(self) -> None:
        if self.widget.focus is self.search:
            q = self.search.edit_text.strip()
            if q:
                self._load(self.app.backend.search, q)
            return
        c = self.focused_value()
        if c is not None:
            self.open(c)

    def open(self, c: Any) -> None:
        if self.purpose == "charge":
            self.app.push("bill", customer=c)
        else:
            self.app.push("customer", customer=c)

    def on_scan(self, code: str) -> bool:
        self.search.set_edit_text("")
        self._load(self.app.backend.search, code)
        return True

    def scan_target(self) -> str | None:
        c = self.focused_value()
        return getattr(c, "meter", None) or None
