"""The window: screens pushed and popped by name, the top one in the body of the frame.

Screens are imported on first push (``SCREENS``: name → "module:Class") so startup loads only
the login screen.  Each screen shown gets its key context bound (``Keymap.bind_screen``): its
soft keys and its own keys become bindings of its commands, checked as they are bound.
"""

from __future__ import annotations

import importlib
from typing import Any

#: screen name → "module:Class"; imported on first push so startup only loads the login screen
SCREENS: dict[str, str] = {
    "login": "ui.screens.login:LoginScreen",
    "main": "ui.screens.menu:MainMenu",
    "logout": "ui.screens.menu:LogoutConfirm",
    "unlock": "ui.screens.login:UnlockScreen",
    "new_pin": "ui.screens.login:NewPinScreen",
    "reading_menu": "ui.screens.menu:ReadingMenu",
    "route_download": "ui.screens.route:RouteDownload",
    "route_list": "ui.screens.route:RouteList",
    "skip": "ui.screens.route:SkipVisit",
    "customer": "ui.screens.customer:CustomerCard",
    "note": "ui.screens.customer:PremiseNoteEdit",
    "reading": "ui.screens.reading:ReadingEntry",
    "charge": "ui.screens.charge:ChargeSearch",
    "bill": "ui.screens.charge:BillScreen",
    "payment": "ui.screens.charge:PaymentScreen",
    "reversal": "ui.screens.charge:ReversalScreen",
    "dunning": "ui.screens.dunning:DunningList",
    "arrears_check": "ui.screens.dunning:ArrearsCheckScreen",
    "topup": "ui.screens.topup:TopUpScreen",
    "settlement": "ui.screens.settlement:SettlementScreen",
    "settings": "ui.screens.settings:SettingsScreen",
    "messages": "ui.screens.settings:MessageLog",
    "documents": "ui.screens.documents:DocumentHistory",
    "unprinted": "ui.screens.documents:UnprintedOffer",
    "sim_paycode": "ui.screens.qrpay:SimPayCodes",
}


def screen_class(name: str) -> type:
    module, cls = SCREENS[name].split(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


class ScreenStack:
    """The stack of screens of one app; the top one is shown and gets the keys."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.screens: list[Any] = []

    @property
    def top(self) -> Any:
        return self.screens[-1]

    def make(self, name: str, params: dict[str, Any]) -> Any:
        screen = screen_class(name)(self.app, **params)
        screen.params = params
        return screen

    def push(self, name: str, **params: Any) -> Any:
        screen = self.make(name, params)
        self.screens.append(screen)
        self.show()
        screen.on_show()
        return screen

    def replace(self, name: str, **params: Any) -> Any:
        if self.screens:
            self.screens.pop()
        return self.push(name, **params)

    def pop(self) -> None:
        if len(self.screens) > 1:
            self.screens.pop()
            self.show()
            self.top.on_show()

    def home(self) -> None:
        while len(self.screens) > 2:
            self.screens.pop()
        self.show()
        self.top.on_show()

    def back(self) -> None:
        if not self.top.on_back():
            self.pop()

    def clear(self) -> None:
        self.screens.clear()

    def rebuild(self) -> None:
        """Every screen made again (a new language), the top one shown."""
        self.screens[:] = [self.make(s.name, s.params) for s in self.screens]
        self.show()
        self.top.on_show()

    def show(self) -> None:
        app = self.app
        app.root.frame.body = self.top.widget
        app.set_message("")
        app._draw_chrome()
