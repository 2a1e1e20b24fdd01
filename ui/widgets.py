"""Small keypad widgets: numbered menu rows, the one keypad entry field, yuan amounts, a text list.

CJK text is laid out by urwid by display width (``calc_width("中文ab") == 6``) and a wide
character is never split across lines, so labels here are plain ``urwid.Text``.
"""

from __future__ import annotations

import urwid

#: CJK punctuation that never starts a line (禁则): it stays with the character before it
NO_LINE_START = frozenset("。，、；：？！）」』》〉】”’…")


class KinsokuLayout(urwid.StandardTextLayout):
    """urwid's layout, except that a line never starts with closing CJK punctuation: a lone
    "。" at 30 columns takes the character before it along to its line (when that line has
    room; a line is never made wider than the screen)."""

    def calculate_text_segments(self, text: str | bytes, width: int, wrap: str) -> list[list[tuple]]:
        lines = super().calculate_text_segments(text, width, wrap)
        if wrap not in ("space", "any") or not isinstance(text, str):
            return lines
        for i in range(1, len(lines)):
            prev, cur = lines[i - 1], lines[i]
            if not cur or len(cur[0]) != 3 or not prev or len(prev[-1]) != 3:
                continue
            w0, start, end = cur[0]
            pw, ps, pe = prev[-1]
            if start >= len(text) or text[start] not in NO_LINE_START or pe != start or pe - ps < 2:
                continue
            if text[pe - 1] in NO_LINE_START:
                continue
            cw = urwid.calc_width(text, pe - 1, pe)
            if sum(seg[0] for seg in cur) + cw > width:
                continue
            prev[-1] = (pw - cw, ps, pe - 1)
            cur[0] = (w0 + cw, pe - 1, end)
        return lines




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


class KeypadEdit(urwid.Edit):
    """THE entry field for digits (and every other keyed field): it behaves like a keypad
    device's, not like a desktop text box.

    * The cursor is always at the end: arrows, Home/End and the mouse never move it into the
      text (Up/Down go on to the next field; urwid's "keep the cursor column" is switched off).
    * Backspace deletes the last character; Delete (the keypad's clear key, 清除) empties the
      field; a character is only ever added at the end.
    * ``digits`` fields take 0–9 (and one ``.`` when ``decimal``); free-text fields (a name in a
      search) take any printable character; never more than ``max_len``.

    One widget for the operator number, PIN, readings, amounts, cash, searches, segments and
    customer numbers, so every field answers the same keys the same way.
    """

    CLEAR_KEYS = ("delete",)
    #: keys a desktop edit would use to move inside the text: the keypad has no such thing
    CURSOR_KEYS = ("left", "right", "home", "end", "ctrl a", "ctrl e")

    def __init__(self, caption: str = "", max_len: int = 20, *, digits: bool = True, decimal: bool = False,
                 mask: str | None = None) -> None:
        self.max_len = max_len
        self.digits = digits
        self.decimal = decimal
        super().__init__(caption, mask=mask)

    # the cursor lives at the end, whatever asks to move it
    def set_edit_pos(self, pos: int) -> None:
        super().set_edit_pos(len(self.edit_text))

    def set_edit_text(self, text: str) -> None:
        super().set_edit_text(text[:self.max_len])
        super().set_edit_pos(len(self.edit_text))

    def move_cursor_to_coords(self, size: tuple[int], x: int | str, y: int | str) -> bool:
        super().set_edit_pos(len(self.edit_text))
        return True

    def mouse_event(self, size: tuple[int], event: str, button: int, col: int, row: int, focus: bool) -> bool:
        return False

    def valid_char(self, ch: str) -> bool:
        if len(self.edit_text) >= self.max_len or len(ch) != 1 or not ch.isprintable():
            return False
        if not self.digits:
            return True
        if ch.isascii() and ch.isdigit():
            return True
        return self.decimal and ch == "." and "." not in self.edit_text

    def keypress(self, size: tuple[int], key: str) -> str | None:
        if key in self.CLEAR_KEYS:
            self.set_edit_text("")
            return None
        if key == "backspace":
            if self.edit_text:
                self.set_edit_text(self.edit_text[:-1])
            return None
        if key in self.CURSOR_KEYS:
            return None  # eaten: there is nowhere to move
        if len(key) == 1 and self.valid_char(key):
            self.set_edit_text(self.edit_text + key)
            return None
        if len(key) == 1 and key.isprintable():
            return None  # a key this field does not take: ignored, not passed on as a command
        return key  # Enter, Esc, Up/Down, F-keys: for the screen and the keymap


class TailText(urwid.Text):
    """One line that keeps the END of a long text (a folder path): "…" plus as much of the tail
    as fits the width, so the part that tells one folder from another stays readable."""

    def __init__(self, text: str) -> None:
        super().__init__(text, wrap="clip")

    def rows(self, size: tuple[int], focus: bool = False) -> int:
        return 1

    def render(self, size: tuple[int], focus: bool = False) -> urwid.Canvas:
        (maxcol,) = size
        return urwid.Text(tail(self.text, maxcol), wrap="clip").render(size, focus)


def tail(text: str, width: int) -> str:
    """``text`` when it fits ``width`` columns, else "…" and its last characters (CJK = 2 columns)."""
    if urwid.calc_width(text, 0, len(text)) <= width:
        return text
    out = ""
    for ch in reversed(text):
        if urwid.calc_width("…" + ch + out, 0, len(out) + 2) > width:
            break
        out = ch + out
    return "…" + out


def _decimals(text: str, places: int) -> str:
    """A decimal string with at least ``places`` decimals ("100" → "100.00" for 2): digits are
    only ever added, never rounded away; a text that is not a number is shown as it is."""
    from decimal import Decimal, InvalidOperation

    try:
        d = Decimal(str(text))
    except InvalidOperation:
        return str(text)
    if not d.is_finite():
        return str(text)
    exp = d.as_tuple().exponent
    assert isinstance(exp, int)
    return format(d.quantize(Decimal(1).scaleb(-places)) if -exp < places else d, "f")


def kwh_text(kwh: object) -> str:
    """kWh on screen, one format everywhere: two decimals ("100" → "100.00")."""
    return _decimals(str(kwh), 2)


def tier_line(name: str, kwh: object, price: object, amount_fen: int) -> str:
    """One tier of a bill: "第一档 100.00×0.5224=52.24" — kWh with two decimals, the price with
    four, the money as format_yuan gives it (without ￥): the same format in every line."""
    from terminal_app.domain.money import format_yuan

    return f"{name} {kwh_text(kwh)}×{_decimals(str(price), 4)}={format_yuan(amount_fen, sign=False)}"


def parse_yuan(text: str) -> int | None:
    """"12.3" → 1230 fen (the core's money parser); None when it is not an amount the keypad takes
    (the screen then says so in its own words)."""
    from terminal_app.domain.errors import InvalidValueError
    from terminal_app.domain.money import parse_yuan as parse

    try:
        return parse(text)
    except InvalidValueError:
        return None


def listbox(widgets: list[urwid.Widget]) -> urwid.ListBox:
    return urwid.ListBox(urwid.SimpleFocusListWalker(widgets))


def title(text: str) -> urwid.Widget:
    return urwid.AttrMap(urwid.Text(text, wrap="clip"), "title")
