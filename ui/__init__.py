"""The urwid field UI — the only package that imports urwid."""
