"""The catalogs: compiled .mo match the .po, every msgid shown has a zh_CN translation with the
same placeholders, and no screen hard-codes user text."""

from __future__ import annotations

import ast
import string
from pathlib import Path

from ui import build_catalogs
from ui.i18n import Translator


def test_mo_files_are_compiled_from_the_po_and_zh_cn_is_complete():
    """Every msgid extracted from ui/ and from each EXTRA_SOURCES module has a zh_CN msgstr."""
    assert build_catalogs.problems() == []


def _compiled(catalog, tmp_path: Path, name: str) -> Path:
    mo = tmp_path / name
    mo.write_bytes(build_catalogs.compile_mo(catalog))
    return mo


def test_catalog_check_compares_meaning_not_the_compilers_bytes(tmp_path):
    """A .mo compiled by another Babel (another Generated-By header, other bytes) says the same;
    a changed, dropped or added translation, or another language, is caught."""
    po = build_catalogs.read_po("zh_CN")
    other_tool = build_catalogs.read_po("zh_CN")
    other_tool.version, other_tool.msgid_bugs_address = "9.9", "qa@example.invalid"
    mo = _compiled(other_tool, tmp_path, "tool.mo")
    assert mo.read_bytes() != build_catalogs.compile_mo(po)  # other bytes …
    assert build_catalogs.mo_problems("zh_CN", po, mo) == []  # … same meaning

    msgid = "Main menu"
    changed = build_catalogs.read_po("zh_CN")
    changed[msgid].string = "主菜单（旧）"
    problems = build_catalogs.mo_problems("zh_CN", po, _compiled(changed, tmp_path, "changed.mo"))
    assert len(problems) == 1 and "not compiled from its .po" in problems[0] and msgid in problems[0]

    dropped = build_catalogs.read_po("zh_CN")
    del dropped[msgid]
    assert build_catalogs.mo_problems("zh_CN", po, _compiled(dropped, tmp_path, "dropped.mo"))
    added = build_catalogs.read_po("zh_CN")
    added.add("A message the .po never had", "多出来的")
    assert build_catalogs.mo_problems("zh_CN", po, _compiled(added, tmp_path, "added.mo"))
    assert build_catalogs.mo_problems("en", po, mo) == [f"{mo} says Language: 'zh_CN', not 'en'"]
    assert build_catalogs.mo_problems("zh_CN", po, tmp_path / "missing.mo")


def test_catalog_check_reads_plurals_and_contexts(tmp_path):
    from babel.messages.catalog import Catalog

    cat = Catalog(locale="en", domain="handheld")
    cat.add(("{n} item", "{n} items"), ("{n} thing", "{n} things"))
    cat.add("Open", "Open (door)", context="door")
    mo = _compiled(cat, tmp_path, "plural.mo")
    assert build_catalogs.mo_problems("en", cat, mo) == []
    assert build_catalogs.po_meaning(cat) == {("{n} item", 0): "{n} thing", ("{n} item", 1): "{n} things",
                                              "door\x04Open": "Open (door)"}
    cat[("{n} item", "{n} items")].string = ("{n} thing", "{n} thingies")
    assert build_catalogs.mo_problems("en", cat, mo)


def test_extra_sources_all_exist():
    """extract() skips a missing file silently, so a typo or a rename would drop its messages."""
    assert [str(p) for p in build_catalogs.EXTRA_SOURCES if not p.is_file()] == []


def _fields(text: str) -> set[tuple[str, str | None, str]]:
    """The replacement fields of a str.format template: (name, conversion, format spec)."""
    return {(name, conv, spec or "") for _, name, spec, conv in string.Formatter().parse(text)
            if name is not None}


def test_placeholders_survive_translation():
    """A msgstr with other {fields} than its msgid breaks .format(**params) on the screen."""
    bad = []
    for lang in ("zh_CN", "en"):
        for m in build_catalogs.read_po(lang):
            if not (m.id and m.string):
                continue
            try:
                if _fields(m.id) != _fields(m.string):
                    bad.append(f"{lang}: {m.id!r} -> {m.string!r}")
            except ValueError as e:  # unbalanced braces: .format() would raise too
                bad.append(f"{lang}: {m.id!r} -> {m.string!r} ({e})")
    assert bad == []


# modules whose errors are not shown through gettext: the command line prints str(exc) itself
_NOT_OPERATOR_FACING = ("terminal_app/cli/",)


def _error_classes(trees: dict[Path, ast.Module]) -> set[str]:
    names = {"HandheldError"}
    while True:
        more = {c.name for t in trees.values() for c in ast.walk(t) if isinstance(c, ast.ClassDef)
                and any((b.id if isinstance(b, ast.Name) else getattr(b, "attr", None)) in names
                        for b in c.bases)} - names
        if not more:
            return names
        names |= more


def _operator_messages(tree: ast.Module, errors: set[str]) -> set[str]:
    """Literal sentences given to HandheldError subclasses, and their default_action sentences."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and build_catalogs._call_name(node) in errors:
            out |= {a.value for a in node.args[:2] if isinstance(a, ast.Constant) and isinstance(a.value, str)}
        if isinstance(node, ast.ClassDef) and node.name in errors:
            for a in node.body:
                if isinstance(a, ast.Assign) and any(getattr(t, "id", "") == "default_action" for t in a.targets) \
                        and isinstance(a.value, ast.Constant) and isinstance(a.value.value, str):
                    out.add(a.value.value)
    out.discard("")
    return out


def test_every_module_raising_operator_errors_is_extracted():
    """A module raising HandheldError subclasses with literal messages must be in EXTRA_SOURCES
    (else its messages show in English on a Chinese terminal), and all its messages extracted."""
    root = build_catalogs.ROOT
    trees = {p: ast.parse(p.read_text(encoding="utf-8"))
             for top in ("terminal_app", "drivers", "offline_queue") for p in sorted((root / top).rglob("*.py"))}
    errors = _error_classes(trees)
    listed = {p.resolve() for p in build_catalogs.EXTRA_SOURCES}
    unlisted, unextracted = [], []
    for path, tree in trees.items():
        rel = path.relative_to(root).as_posix()
        if rel.startswith(_NOT_OPERATOR_FACING) or not (wanted := _operator_messages(tree, errors)):
            continue
        if path.resolve() not in listed:
            unlisted.append(rel)
        elif missing := wanted - build_catalogs.extract_file(path):
            unextracted.append(f"{rel}: {sorted(missing)}")
    assert unlisted == [], "add these to ui.build_catalogs.EXTRA_SOURCES"
    assert unextracted == []


def test_extraction_finds_calls_titles_softkeys_and_errors(tmp_path):
    src = tmp_path / "x.py"
    src.write_text('class S:\n    title = "A title"\n    softkeys = (("Go", "go"), None)\n'
                   'def f(self):\n    self._("Called")\n    N_("Marked")\n'
                   '    raise BusinessRuleError("What failed.", "What to do.", x=1)\n', encoding="utf-8")
    assert build_catalogs.extract_file(src) == {"A title", "Go", "Called", "Marked", "What failed.",
                                                "What to do."}


def test_extraction_finds_shared_advice_serial_opens_and_fixed_messages(tmp_path):
    src = tmp_path / "y.py"
    src.write_text('AIM_ACTION = "Aim it."\nOTHER = "not a message"\n'
                   'class BusyError(DeviceError):\n'
                   '    def __init__(self, n):\n        super().__init__("Busy {n}.", "Wait.", n=n)\n'
                   'def g(url):\n    open_serial(url, "Port {url} failed.", "Plug it in.", baudrate=9600)\n'
                   '    raise ValueError("a program error, never shown")\n', encoding="utf-8")
    assert build_catalogs.extract_file(src) == {"Aim it.", "Busy {n}.", "Wait.", "Port {url} failed.",
                                                "Plug it in."}


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


def test_the_thing_an_error_is_about_is_named_in_chinese_too():
    import datetime as dt

    import pytest

    from drivers.ic_card.model import CardType, Params
    from terminal_app.domain.money import check_fen
    from terminal_app.domain.payment import Payment
    from terminal_app.errors import HandheldError
    from terminal_app.timeutil import SHANGHAI

    t = Translator()
    at = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)
    with pytest.raises(HandheldError) as err:
        Payment(txn="12345678-1", customer="0100000001", amount=-5, at=at)
    assert t.error(err.value).startswith("缴费金额 -5"), t.error(err.value)
    with pytest.raises(HandheldError) as err:
        check_fen("12")
    assert t.error(err.value).startswith("金额（分） '12'"), t.error(err.value)
    with pytest.raises(HandheldError) as err:
        Params(CardType.PURCHASE, "00" * 8, "1" * 21, "1").encode()
    assert t.error(err.value).startswith("户号 '111"), t.error(err.value)
    # English stays English; values are never translated, only the names of things
    assert Translator("en").error(err.value).startswith("The customer number '111")


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


def test_an_inner_error_is_shown_in_chinese_too_and_an_errno_in_words():
    """Issue 13 (6): '没有数据到达主站（No mobile network here …）' and '(22, 'Invalid argument')'
    are gone: the inner error is translated with the outer one, an OS error is named in words."""
    import termios

    from drivers.modem.driver import NoCoverageError
    from terminal_app.errors import DeviceNotFoundError
    from terminal_app.station.client import NotSentError

    t = Translator()
    inner = NoCoverageError("No mobile network here (no signal) after {timeout:.0f} s.", timeout=5)
    outer = NotSentError("Nothing reached the master station ({error}).", error=inner)
    shown = t.error(outer)
    assert shown.startswith("没有数据到达主站（5秒后此处仍无移动网络（无信号））。"), shown
    assert "No mobile" not in shown and "signal" not in shown
    port = DeviceNotFoundError("The IR head port {url} cannot be opened: {error}.", url="/dev/ttyIR0",
                               error=termios.error(22, "Invalid argument"))
    assert "端口拒绝了参数设置（系统错误22）" in t.error(port) and "Invalid" not in t.error(port)
    assert "Invalid argument" in str(port)  # the log keeps the library's words
    assert "连接被拒绝" in t.error(DeviceNotFoundError("Cannot connect to the master station ({error}).",
                                                      error=ConnectionRefusedError(111, "Connection refused")))


def test_the_station_is_told_the_chinese_reason_the_operator_chose():
    """Issue 13 (6): a reason picked from a list goes to the station as its Chinese text — the
    same Chinese the screen shows for it — never as an English msgid."""
    from terminal_app.domain import reasons

    zh = Translator("zh_CN")
    lists = (reasons.KEYPAD_REASONS, reasons.REVERSAL_REASONS, reasons.JUMP_REASONS, reasons.DUNNING_RESULT_CHOICES)
    for table in lists:
        for code, text, msgid in table:
            assert zh(msgid) == text, (code, msgid, zh(msgid), text)
            assert reasons.text_of(table, code) == text and not any(c.isascii() and c.isalpha() for c in text)


def test_a_station_refusal_is_said_per_code_without_its_english_message():
    from terminal_app.station.client import StationRefusedError

    e = StationRefusedError("E_NOT_ALLOWED", "payment 1-1 was taken by another terminal", {})
    assert Translator().error(e) == "主站规则不允许此操作。 — 请与用户或主管核对。"
    assert "taken by another terminal" in str(e) and "E_NOT_ALLOWED" in str(e)  # for the log
