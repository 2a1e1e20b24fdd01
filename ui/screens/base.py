"""The base of every screen: a name (its key context), soft keys, hooks the app calls."""

from __future__ import annotations

from typing import Any

import urwid

from ui.widgets import listbox, title


class Screen:
    name = ""
    kind = ""  # extra key context: "menu" lets digits pick items
    title = ""  # msgid
    #: F1..F4: (label msgid, action name passed to on_softkey) or None
    softkeys: tuple[tuple[str, str] | None, ...] = ()

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

    def on_softkey(self, action: str) -> None:
        getattr(self, "do_" + action)()

    def on_back(self) -> bool:
        """True when the screen handled Esc itself (otherwise the app pops it)."""
        return False

    def on_cancelled(self) -> None:
        pass

    def on_scan(self, code: str) -> bool:
        """True when the screen used the barcode (otherwise the app opens that customer)."""
        return False

    def do_back(self) -> None:
        self.app.back()


__all__ = ["Screen", "listbox"]
