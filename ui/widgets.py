"""Small keypad widgets: numbered menu rows, digit-only edits, yuan amounts, a text list.

CJK text is laid out by urwid by display width (``calc_width("中文ab") == 6``) and a wide
character is never split across lines, so labels here are plain ``urwid.Text``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import urwid

MAX_FEN = 99_999_999  # 999 999.99 yuan: more than any single field payment


class Row(urwid.Text):
    """A selectable line (menu item, list entry); Enter goes on to the keymap's ``select``."""

    _selectable = True

    def __init__(self, markup: object, value: object = None) -> None:
        super().__init__(markup, wrap="clip")
        self.value = value

    def keypress(self, size: tuple[int, ...], key: str) -> str | None:
        return key


def row(markup: object, value: object = None) -> urwid.Widget:
    return urwid.AttrMap(Row(markup, value), None, focus_map="focus")


class DigitEdit(urwid.Edit):
    """An edit taking only digits (and ``.`` when ``decimal``), at most ``max_len`` of them."""

    def __init__(self, caption: str = "", max_len: int = 20, decimal: bool = False, mask: str | None = None) -> None:
        super().__init__(caption, mask=mask)
        self.max_len = max_len
        self.decimal = decimal

    def set_edit_text(self, text: str) -> None:
        super().set_edit_text(text)
        self.set_edit_pos(len(text))  # a prefilled amount: Backspace erases from its end

    def valid_char(self, ch: str) -> bool:
        if len(self.edit_text) >= self.max_len:
            return False
        if ch.isascii() and ch.isdigit():
            return True
        return self.decimal and ch == "." and "." not in self.edit_text


class TextEdit(urwid.Edit):
    """Free text (search by name), bounded."""

    def __init__(self, caption: str = "", max_len: int = 32) -> None:
        super().__init__(caption)
        self.max_len = max_len

    def valid_char(self, ch: str) -> bool:
        return len(self.edit_text) < self.max_len and super().valid_char(ch)


_YUAN = re.compile(r"\d{1,6}(\.\d{0,2})?")


def parse_yuan(text: str) -> int | None:
    """"12.3" → 1230 fen; None when it is not an amount of at most two decimals (never float)."""
    if not _YUAN.fullmatch(text):
        return None
    try:
        value = int((Decimal(text) * 100).to_integral_exact())
    except InvalidOperation:
        return None
    return value if 0 < value <= MAX_FEN else None


def listbox(widgets: list[urwid.Widget]) -> urwid.ListBox:
    return urwid.ListBox(urwid.SimpleFocusListWalker(widgets))


def title(text: str) -> urwid.Widget:
    return urwid.AttrMap(urwid.Text(text, wrap="clip"), "title")
