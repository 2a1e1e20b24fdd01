"""The catalogs: compiled .mo match the .po, every msgid shown has a zh_CN translation with the
same placeholders, and no screen hard-codes user text."""

from __future__ import annotations

import ast
import string
from pathlib import Path

from ui import build_catalogs
from ui.i18n import Translator


def test_mo_files_are_compiled_from_the_po_and_zh_cn_is_complete():
    assert build_catalogs.problems() == []


def test_placeholders_survive_translation():
    zh = build_catalogs.read_po("zh_CN")
    fmt = string.Formatter()
    for m in zh:
        if m.id and m.string:
            want = sorted(f for _, f, _, _ in fmt.parse(m.id) if f is not None)
            got = sorted(f for _, f, _, _ in fmt.parse(m.string) if f is not None)
            assert want == got, (m.id, m.string)


def test_extraction_finds_calls_titles_softkeys_and_errors(tmp_path):
    src = tmp_path / "x.py"
    src.write_text('class S:\n    title = "A title"\n    softkeys = (("Go", "go"), None)\n'
                   'def f(self):\n    self._("Called")\n    N_("Marked")\n'
                   '    raise BusinessRuleError("What failed.", "What to do.", x=1)\n', encoding="utf-8")
    assert build_catalogs.extract_file(src) == {"A title", "Go", "Called", "Marked", "What failed.",
                                                "What to do."}


def test_chinese_by_default_english_selectable_unknown_falls_back():
    assert Translator()("Main menu") == "主菜单"
    assert Translator("en")("Main menu") == "Main menu"
    assert Translator("xx").language == "zh_CN"


def test_errors_are_shown_translated_with_their_advice():
    from terminal_app.errors import LinkDownError

    t = Translator()
    e = LinkDownError("The master station cannot be reached; try again later. Nothing was sent.")
    assert t.error(e) == "连不上主站；请稍后重试。未发送任何数据。 — 请到信号好的地方或稍后重试；数据不会丢失。"
    assert "意外错误：KeyError" in t.error(KeyError("x"))


def test_screens_pass_no_literal_text_to_widgets():
    """urwid.Text("…")/Edit("…") with a literal would bypass gettext (markup tuples checked too)."""
    offenders = []
    for path in sorted((Path(build_catalogs.UI_DIR) / "screens").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("Text", "Edit", "row"):
                for arg in node.args[:1]:
                    lits = [arg] if isinstance(arg, ast.Constant) else \
                        [e for e in arg.elts[1:]] if isinstance(arg, ast.Tuple) else []
                    for lit in lits:
                        if isinstance(lit, ast.Constant) and isinstance(lit.value, str) and lit.value.strip():
                            offenders.append(f"{path.name}:{node.lineno} {lit.value!r}")
    assert offenders == []
