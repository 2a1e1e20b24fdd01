"""Laying text out on a 58 mm thermal printer by display width (pure functions).

A 58 mm head prints 32 half-width columns (12 × 24-dot cells) of font A.  In Chinese mode the
printer draws *every* multi-byte GB18030 character in a full 24 × 24 cell — also the
characters ``wcwidth`` calls narrow or ambiguous (``—``, ``×``, ``°``, ``“``) — so a character
takes two columns unless it is printable ASCII.  That is never less than ``wcwidth`` says, so a
line that fits here also fits by ``wcwidth``.  Wide characters are never split across lines.

Money is integer fen, shown as 元 with two decimals and ``￥`` (U+FFE5, GB2312 A3A4): ``¥``
(U+00A5) is a 4-byte GB18030 sequence that GBK-only printers print as junk.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from wcwidth import wcwidth

from terminal_app.errors import LocalProtocolError

COLUMNS_58MM = 32
YUAN = "\uffe5"  # ￥ FULLWIDTH YEN SIGN


def clean(text: str) -> str:
    """Text made safe for the printer: controls (ESC would start a command) become spaces,
    ``¥`` becomes ``￥``; characters GB18030 cannot encode (lone surrogates) become ``□``."""
    out = []
    for ch in text:
        if ch == "\u00a5":
            out.append(YUAN)
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            out.append(" ")
        elif unicodedata.category(ch) == "Cs":
            out.append("\u25a1")
        else:
            out.append(ch)
    return "".join(out)


def char_width(ch: str) -> int:
    """Columns ``ch`` takes on the printer: 1 for printable ASCII, 2 for anything else."""
    if " " <= ch <= "~":
        return 1
    if wcwidth(ch) < 0:
        raise LocalProtocolError("Character U+{code:04X} cannot be printed.",
                                 "Pass text through layout.clean() first.", code=ord(ch))
    return 2


def width(text: str) -> int:
    return sum(char_width(ch) for ch in text)


_NO_LINE_START = frozenset("，。、：；！？）」』】》,.;:!?)")


def _tokens(text: str) -> list[str]:
    """ASCII words (an amount keeps its ￥), single spaces, and single other characters."""
    return re.findall(r"\uffe5?[!-~]+| |[^!-~ ]", text)


def wrap(text: str, columns: int = COLUMNS_58MM, indent: int = 0) -> list[str]:
    """Break ``text`` into lines of at most ``columns``; lines after the first are indented by
    ``indent`` spaces.  ASCII words are kept whole where they fit; CJK breaks between any two
    characters, never inside one."""
    if columns < 2 or not 0 <= indent <= columns - 2:
        raise LocalProtocolError("Cannot wrap text to {columns} columns with indent {indent}.",
                                 columns=columns, indent=indent)
    lines: list[str] = []
    line, used, start = "", 0, 0

    def newline() -> None:
        nonlocal line, used, start
        lines.append(line.rstrip())
        line, used = " " * indent, indent
        start = indent

    last = ""  # the token that ended the line so far
    for tok in _tokens(clean(text)):
        w = width(tok)
        if used + w <= columns:
            line, used, last = line + tok, used + w, tok
            continue
        if tok == " ":
            newline()
            continue
        if used > start:
            carry = ""
            # 禁则: closing punctuation never starts a line — take the last word/character along
            if (tok in _NO_LINE_START and last and last != " " and len(line) - len(last) > start
                    and indent + width(last) + w <= columns):
                carry, line = last, line[:-len(last)]
            newline()
            line, used = line + carry, used + width(carry)
        last = tok if used + w <= columns else ""
        for ch in tok:  # a word longer than a whole line, or a wide character
            cw = char_width(ch)
            if used + cw > columns:
                newline()
            line, used = line + ch, used + cw
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines


def pad_right(text: str, columns: int) -> str:
    return text + " " * max(0, columns - width(text))


def pad_left(text: str, columns: int) -> str:
    return " " * max(0, columns - width(text)) + text


def center(text: str, columns: int = COLUMNS_58MM) -> str:
    gap = max(0, columns - width(text))
    return " " * (gap // 2) + text


def pair(label: str, value: str, columns: int = COLUMNS_58MM) -> list[str]:
    """``label`` on the left and ``value`` flush right on one line, or, if they do not fit,
    the label and the value right-aligned (wrapped if it must be) on the lines below."""
    label, value = clean(label), clean(value)
    if width(label) + 1 + width(value) <= columns:
        return [label + " " * (columns - width(label) - width(value)) + value]
    lines = wrap(label, columns)
    for part in wrap(value, columns):
        lines.append(pad_left(part, columns))
    return lines


def field(label: str, value: str, columns: int = COLUMNS_58MM) -> list[str]:
    """``label：value`` with the value wrapped under itself (hanging indent)."""
    head = clean(label) + "："
    indent = width(head)
    if indent > columns // 2:
        return wrap(head, columns) + wrap(value, columns, indent=0)
    lines = wrap(head + clean(value), columns, indent=indent)
    return lines


def rule(columns: int = COLUMNS_58MM, char: str = "-") -> str:
    return char * (columns // char_width(char))


def columns_row(cells: Iterable[tuple[str, int, str]]) -> str:
    """One table row: each cell is (text, columns, "<" or ">"); text is cut (never mid
    character) to its cell."""
    out = []
    for text, cols, how in cells:
        text = clean(text)
        while width(text) > cols:
            text = text[:-1]
        out.append(pad_right(text, cols) if how == "<" else pad_left(text, cols))
    return "".join(out)


def yuan(fen: int, sign: bool = True) -> str:
    """Integer fen as 元 with two decimals: 12345 → ``￥123.45``; -5 → ``-￥0.05``."""
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise LocalProtocolError("Amount {value!r} is not integer fen.", value=fen)
    neg = fen < 0
    whole, cents = divmod(abs(fen), 100)
    text = f"{whole}.{cents:02d}"
    if sign:
        text = YUAN + text
    return ("-" if neg else "") + text


_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_UNITS = ("", "拾", "佰", "仟")
_SECTIONS = ("", "万", "亿", "万亿")


def _section(n: int) -> str:
    """0 < n < 10000 in 大写 digits, with inner zeros collapsed to one 零."""
    out, zero = "", False
    for pos in range(3, -1, -1):
        d = (n // 10 ** pos) % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += _DIGITS[d] + _UNITS[pos]
    return out


def yuan_in_words(fen: int) -> str:
    """The amount in Chinese capital numerals (人民币大写), as receipts print it:
    12345 → 壹佰贰拾叁元肆角伍分; 10000 → 壹佰元整; 100005 → 壹仟元零伍分."""
    if not isinstance(fen, int) or isinstance(fen, bool) or fen < 0 or fen >= 10 ** 16:
        raise LocalProtocolError("Amount {value!r} cannot be written in words.", value=fen)
    whole, cents = divmod(fen, 100)
    jiao, fen_digit = divmod(cents, 10)
    parts: list[str] = []
    if whole:
        groups = []
        n = whole
        while n:
            groups.append(n % 10000)
            n //= 10000
        text, gap = "", False
        for idx in range(len(groups) - 1, -1, -1):
            g = groups[idx]
            if g == 0:
                gap = bool(text)
                continue
            if text and (gap or g < 1000):
                text += "零"
            text += _section(g) + _SECTIONS[idx]
            gap = False
        parts.append(text + "元")
    if not jiao and not fen_digit:
        return (parts[0] if parts else "零元") + "整"
    if jiao:
        parts.append(_DIGITS[jiao] + "角")
    elif whole:
        parts.append("零")
    if fen_digit:
        parts.append(_DIGITS[fen_digit] + "分")
    else:
        parts.append("整")
    return "".join(parts)
