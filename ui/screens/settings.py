"""Settings (设置): APN and station address (from the configuration file), printer test, modem
diagnostics, language (中文 / English), sync now, log out; and the message log (消息记录)."""

from __future__ import annotations

from typing import Any

import urwid

from ui.commands import command
from ui.i18n import N_
from ui.screens.base import Screen
from ui.widgets import TailText, row

ITEMS = (
    ("printer", N_("Printer test")),
    ("modem", N_("Modem diagnostics")),
    ("language", N_("Language: 中文 / English")),
    ("messages", N_("Message log")),
    ("logout", N_("Log out")),
)


class SettingsScreen(Screen):
    name = "settings"
    title = "Settings"
    kind = "menu"
    softkeys = (("Back", "back"),)
    #: each item's digit runs its command (the rows show the same digits)
    keys = tuple((str(i), key, label) for i, (key, label) in enumerate(ITEMS, 1))

    def __init__(self, app: Any, **params: Any) -> None:
        self.summary: list[tuple[str, str]] | None = None
        self.report: list[tuple[str, str]] | None = None
        super().__init__(app, **params)

    def build(self) -> None:
        _ = self._
        rows: list[urwid.Widget] = [row(f"{i} {_(label)}", key) for i, (key, label) in enumerate(ITEMS, 1)]
        for label, value in self.summary or ():
            if value.startswith("/"):  # a folder: its label, then the path's tail on one line
                rows += [urwid.Text(f"{_(label)}："), TailText(value)]
            else:
                rows.append(urwid.Text(f"{_(label)}：{_(value)}"))
        for label, value in self.report or ():  # labels and words are msgids; numbers stay numbers
            rows.append(urwid.Text(("dim", f"{_(label)}：{_(value)}")))
        self.set_rows(rows)

    def on_show(self) -> None:
        if self.summary is None:
            try:
                self.summary = self.app.backend.settings_summary()  # from Settings in memory: no I/O
            except Exception as e:  # noqa: BLE001
                self.app.show_error(e)
                self.summary = []
            self.refresh()

    def on_select(self) -> None:
        key = self.focused_value()
        if key:
            self.app.run_command(key)  # the item's command, as its digit runs it

    @command("printer")
    def item_printer(self) -> None:
        self.app.run_task(self._("Printing a test page"), self.app.backend.printer_test,
                          done=lambda text: self.app.notify(self._(text)))

    @command("modem")
    def item_modem(self) -> None:
        def done(report: list[tuple[str, str]]) -> None:
            self.report = report
            self.refresh()
        self.app.run_task(self._("Asking the modem"), self.app.backend.modem_diagnostics, done=done,
                          cancellable=True)

    @command("language")
    def item_language(self) -> None:
        self.app.set_language("en" if self.app._.language == "zh_CN" else "zh_CN")

    @command("messages")
    def item_messages(self) -> None:
        self.app.push("messages")

    @command("logout")
    def item_logout(self) -> None:
        self.app.push("logout")


class MessageLog(Screen):
    name = "messages"
    title = "Message log"
    softkeys = (("Back", "back"),)

    def build(self) -> None:
        msgs = list(self.app.messages)[::-1]
        if not msgs:
            self.set_rows([urwid.Text(self._("No messages yet."))])
            return
        rows: list[urwid.Widget] = []
        for at, text, is_error in msgs:
            rows.append(urwid.Text(("error" if is_error else "", f"{at.strftime('%H:%M')} {text}")))
        self.set_rows(rows)
