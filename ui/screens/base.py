"""The base of every screen: a name (its key context), its commands, soft keys, hooks the app calls.

A screen's actions are commands (methods marked ``@command("name")``, collected per class into
``commands``); its soft keys (``softkeys``: F1–F4 as (label msgid, command) or None) and its own
keys (``keys``: (key, command, help msgid)) are bound in its key context when it is shown
(:meth:`bindings`, ``Keymap.bind_screen``) — every key goes through the keymap to a command.
"""

from __future__ import annotations

from typing import Any

import urwid

from ui.commands import command
from ui.widgets import listbox, title

SOFT_KEYS = ("f1", "f2", "f3", "f4")


class Screen:
    name = ""
    kind = ""  # extra key context: "menu" lets digits pick items
    title = ""  # msgid
    #: F1..F4: (label msgid, command name) or None
    softkeys: tuple[tuple[str, str] | None, ...] = ()
    #: the screen's own keys besides the soft keys: (key, command, help msgid)
    keys: tuple[tuple[str, str, str], ...] = ()
    #: command name → method name, collected from the methods marked with @command
    commands: dict[str, str] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found = dict(getattr(cls, "commands", {}))
        for attr, value in vars(cls).items():
            name = getattr(value, "__command__", None)
            if name is not None:
                found[name] = attr
        cls.commands = found

    def bindings(self) -> tuple[tuple[str, str, str], ...]:
        """The keys of this screen's context now: (key, command, help msgid)."""
        soft = tuple((key, sk[1], sk[0]) for key, sk in zip(SOFT_KEYS, self.softkeys[:4], strict=False)
                     if sk is not None)
        return soft + tuple(self.keys)

    def __init__(self, app: Any, **params: Any) -> None:
        self.app = app
        self._ = app._
        self.params = params
        self.walker = urwid.SimpleFocusListWalker([])
        self.widget = urwid.ListBox(self.walker)
        self.build()

    # -- drawing ------------------------------------------------------------------------------
    def build(self) -> None:
        """Fill ``self.walker``; called again by :meth:`refresh`."""

    def set_rows(self, rows: list[urwid.Widget], focus: int | None = None) -> None:
        head = [title(self._(self.title))] if self.title else []
        self.walker[:] = head + rows
        target = 0
        if focus is not None and 0 <= focus + len(head) < len(self.walker):
            target = focus + len(head)
        else:
            for i, w in enumerate(self.walker):
                if w.selectable():
                    target = i
                    break
        if self.walker:
            self.walker.set_focus(target)
            # keep the title and the rows above the focus in view (a new list starts at the top)
            above = sum(len(w.original_widget.text.splitlines()) if isinstance(w, urwid.AttrMap)
                        and isinstance(w.original_widget, urwid.Text) else 1 for w in self.walker[:target])
            if above < 8:
                # urwid keeps the focus row's old offset; place it so the rows above stay visible
                self.widget.offset_rows = above
                self.widget.inset_fraction = (0, 1)

    def refresh(self) -> None:
        self.build()
        self.app._draw_chrome()

    def focused_value(self) -> Any:
        w, _pos = self.walker.get_focus()
        if w is None:
            return None
        inner = w.original_widget if isinstance(w, urwid.AttrMap) else w
        return getattr(inner, "value", None)

    # -- hooks --------------------------------------------------------------------------------
    def on_show(self) -> None:
        pass

    def on_select(self) -> None:
        pass

    def on_pick(self, n: int) -> None:
        pass

    def on_back(self) -> bool:
        """True when the screen handled Esc itself (otherwise the app pops it)."""
        return False

    def on_cancelled(self) -> None:
        pass

    def on_scan(self, code: str) -> bool:
        """True when the screen used the barcode (otherwise the app opens that customer)."""
        return False

    @command("back")
    def do_back(self) -> None:
        self.app.back()


Screen.commands = {"back": "do_back"}  # __init_subclass__ collects the subclasses' own

__all__ = ["Screen", "command", "listbox"]
