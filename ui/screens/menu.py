"""Menus: the main menu (抄表 / 收费 / 催费 / 购电 / 日结 / 设置) and the sub-menus.

Items are data: (label msgid, screen name, screen params).  A digit picks an item at once; the
arrows and Enter do the same for a gloved thumb.
"""

from __future__ import annotations

from typing import Any

import urwid

from ui.commands import command
from ui.i18n import N_
from ui.screens.base import Screen
from ui.widgets import row


class Menu(Screen):
    kind = "menu"
    items: tuple[tuple[str, str, dict[str, Any]], ...] = ()
    softkeys = (("Back", "back"),)

    def build(self) -> None:
        self.set_rows([row(f"{i} {self._(label)}", i) for i, (label, _s, _p) in enumerate(self.items, start=1)])

    def on_pick(self, n: int) -> None:
        if 1 <= n <= len(self.items):
            _label, screen, params = self.items[n - 1]
            self.app.push(screen, **params)

    def on_select(self) -> None:
        n = self.focused_value()
        if n is not None:
            self.on_pick(n)


class MainMenu(Menu):
    name = "main"
    title = "Main menu"
    items = (
        (N_("Meter reading"), "reading_menu", {}),
        (N_("Charging"), "charge", {}),
        (N_("Dunning"), "dunning", {}),
        (N_("Card top-up"), "topup", {}),
        (N_("Daily settlement"), "settlement", {}),
        (N_("Settings"), "settings", {}),
        (N_("Printed documents"), "documents", {}),
    )
    softkeys = (("Sync", "sync"), ("Messages", "messages"), None, ("Log out", "logout"))

    def on_back(self) -> bool:
        return True  # the main menu is the bottom of the stack: Esc does nothing

    def on_show(self) -> None:
        """At the first start, and back here after a print failed: offer every original that never
        reached paper (journaled; the printer was off or out of paper, or the terminal stopped)."""
        self.app.walk_progress = None  # off the route: the status line shows the queue alone
        backend = self.app.backend
        failures = getattr(backend, "print_failures", 0)
        if self.app.unprinted_offered_at == failures or self.app.busy is not None:
            return
        try:
            docs = backend.unprinted_originals()  # local store and journal: no device, no link
        except Exception as e:  # noqa: BLE001 — shown; the menu works on
            self.app.show_error(e)
            return
        self.app.unprinted_offered_at = failures
        if docs:
            self.app.push("unprinted", documents=docs)

    @command("sync")
    def do_sync(self) -> None:
        def done(status: Any) -> None:
            self.app.set_status(status)
            if status.queue_depth:
                self.app.set_message(self._("{n} records still wait for the link.").format(n=status.queue_depth),
                                     "warn")
            else:
                self.app.notify(self._("Everything is sent to the station."))
        self.app.run_task(self._("Sending to the station"), self.app.backend.sync_now, done=done, cancellable=True)

    @command("messages")
    def do_messages(self) -> None:
        self.app.push("messages")

    @command("logout")
    def do_logout(self) -> None:
        self.app.push("logout")


class ReadingMenu(Menu):
    name = "reading_menu"
    title = "Meter reading"
    items = (
        (N_("Download route"), "route_download", {}),
        (N_("Route list / find"), "route_list", {"purpose": "read"}),
    )


class LogoutConfirm(Screen):
    """Log out only after saying what still waits for the link (it stays in the journal and is sent
    at the next login — but the operator should know before walking away)."""

    name = "logout"
    title = "Log out"
    softkeys = (("Log out", "logout"), None, None, ("Back", "back"))

    def __init__(self, app: Any, **params: Any) -> None:
        self.waiting: int | None = None
        super().__init__(app, **params)

    def build(self) -> None:
        _ = self._
        if self.waiting is None:
            rows = [urwid.Text(_("Counting what waits for the link…"))]
        elif self.waiting:
            rows = [urwid.Text(("warn", _("{n} records still wait to be sent to the station.").format(n=self.waiting))),
                    urwid.Text(_("They stay on the terminal and go out at the next login with signal.")),
                    urwid.Text(("dim", _("F1 logs out anyway; Esc stays (F1 on the main menu sends now).")))]
        else:
            rows = [urwid.Text(_("Everything is sent to the station.")),
                    urwid.Text(("dim", _("F1 logs out; Esc stays.")))]
        self.set_rows(rows)

    def on_show(self) -> None:
        if self.waiting is None:
            def counted(n: int) -> None:
                self.waiting = n
                self.refresh()
            self.app.run_task(self._("Counting"), self.app.backend.pending, done=counted)

    @command("logout")
    def do_logout(self) -> None:
        self.app.logout()

    def on_select(self) -> None:
        self.do_logout()
