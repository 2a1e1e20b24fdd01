"""Keep the gettext catalogs in step with the code: extract msgids, update the .po, compile .mo.

    python -m ui.build_catalogs            # add new msgids to every .po, compile every .mo
    python -m ui.build_catalogs --check    # exit 1 if a .mo is stale or a zh_CN msgstr is missing

msgids come from ``ui/`` (``_("…")`` / ``self._("…")`` / ``N_("…")`` calls, screen ``title``
attributes, soft-key labels, the first arguments of ``…Error("…", "…")`` raised to the operator)
and from the modules Babel's map (``ui/locale/babel.cfg``, :data:`MAPPING`) selects (the same calls, ``default_action`` sentences,
``super().__init__("…", "…")`` in error classes, ``open_serial(url, "…", "…")``, ``*_ACTION``
constants; built-in exceptions such as ``ValueError("…")`` are program errors and are skipped).
Compiling uses Babel (a build/test dependency only; the terminal itself reads .mo files with the
stdlib ``gettext``).
"""

from __future__ import annotations

import ast
import builtins
import io
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ui.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

UI_DIR = Path(__file__).resolve().parent
ROOT = UI_DIR.parent
#: Babel's extraction map: which files the extractor below reads (ui/, the core, the drivers, the
#: journal — every module that raises a HandheldError with literal messages or marks N_(…));
#: not hw_mocks (QA's simulators) nor terminal_app/cli (prints English/Chinese itself, no gettext).
#: ``pybabel extract -F ui/locale/babel.cfg -o handheld.pot .`` reads the same map.
MAPPING = LOCALE_DIR / "babel.cfg"


def _method_map() -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    from babel.messages.frontend import parse_mapping_cfg

    with MAPPING.open(encoding="utf-8") as fh:
        return parse_mapping_cfg(fh, filename=str(MAPPING))


def mapped(path: Path) -> bool:
    """``path`` is read by the extractor (the first pattern of the map that matches it decides)."""
    from babel.util import pathmatch

    rel = path.resolve().relative_to(ROOT).as_posix()
    for pattern, method in _method_map()[0]:
        if pathmatch(pattern, rel):
            return method != "ignore"
    return False


def _sources() -> tuple[Path, ...]:
    return tuple(p for top in ("terminal_app", "drivers", "offline_queue")
                 for p in sorted((ROOT / top).rglob("*.py")) if mapped(p))


#: the modules outside ui/ the map selects (tests/unit/test_ui_i18n.py checks it misses none
#: that raises operator-facing errors)
EXTRA_SOURCES = _sources()
#: call names whose first two literal arguments are the two sentences of an error
ERROR_SUFFIXES = ("Error", "Refused", "Pending")


def _str(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def extract_file(path: Path) -> set[str]:
    return {msg for _line, msg in _messages(ast.parse(path.read_text(encoding="utf-8"), str(path)))}


def extract_handheld(fileobj: Any, keywords: Any, comment_tags: Any, options: Any
                     ) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Babel extraction method (``[extractors] handheld = ui.build_catalogs:extract_handheld``)."""
    tree = ast.parse(fileobj.read().decode(options.get("encoding", "utf-8")))
    for line, msg in sorted(_messages(tree)):
        yield line, None, msg, []


def _messages(tree: ast.Module) -> set[tuple[int, str]]:
    found: set[tuple[int, str]] = set()

    def add(node: ast.AST, text: str | None) -> None:
        if text:
            found.add((getattr(node, "lineno", 0), text))

    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Reason":  # enum of refusal msgids (services.topup)
            for a in node.body:
                if isinstance(a, ast.Assign):
                    add(a, _str(a.value))
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name in ("_", "N_") and node.args and _str(node.args[0]) is not None:
                add(node, _str(node.args[0]))
            elif name == "ReadingWarning" and len(node.args) > 1 and _str(node.args[1]):
                add(node, _str(node.args[1]))
            elif name.endswith(ERROR_SUFFIXES) and not _is_builtin_exception(name):
                # what failed and what to do: TopupRefused(Reason.X, "action") has only the second
                # (ValueError("…") and the like are program errors: the UI shows "Unexpected error")
                for a in node.args[:2]:
                    add(node, _str(a))
            elif name == "open_serial":  # open_serial(url, what, action): DeviceNotFoundError(what, action)
                for a in node.args[1:3]:
                    add(node, _str(a))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            if names & {"title", "default_action"} and node.value is not None:
                add(node, _str(node.value))
            if "softkeys" in names and node.value is not None:
                for label in _softkey_labels(node.value):
                    add(node, label)
        elif isinstance(node, ast.FunctionDef) and node.name == "softkeys":
            for sub in node.body:
                for label in _softkey_labels(sub):
                    add(sub, label)
        if isinstance(node, ast.ClassDef) and node.name.endswith(ERROR_SUFFIXES):
            # an error class fixing its own sentences: super().__init__("what", "action", **params)
            for sub in ast.walk(node):
                if isinstance(sub, ast.Call) and _call_name(sub) == "__init__" and _is_super(sub.func):
                    for a in sub.args[:2]:
                        add(sub, _str(a))
    for stmt in tree.body:  # module-level advice shared by several raises: AIM_ACTION = "…"
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id.endswith("_ACTION")
                                                for t in stmt.targets):
            add(stmt, _str(stmt.value))
    return found


def _is_builtin_exception(name: str) -> bool:
    obj = getattr(builtins, name, None)
    return isinstance(obj, type) and issubclass(obj, BaseException)


def _is_super(func: ast.expr) -> bool:
    return isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call) and \
        isinstance(func.value.func, ast.Name) and func.value.func.id == "super"


def _softkey_labels(node: ast.AST) -> Iterable[str]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Tuple) and len(sub.elts) == 2 and all(_str(e) is not None for e in sub.elts):
            yield _str(sub.elts[0])  # type: ignore[misc]


def extract() -> set[str]:
    """Every msgid of the files Babel's map selects, through Babel's extraction."""
    from babel.messages.extract import extract_from_dir

    method_map, options_map = _method_map()
    return {msg for _file, _line, msg, _comments, _context in
            extract_from_dir(str(ROOT), method_map, options_map, keywords={}, strip_comment_tags=True)
            if isinstance(msg, str) and msg}


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_po(lang: str):  # -> babel Catalog
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po as _read

    p = po_path(lang)
    if not p.exists():
        return Catalog(locale=lang, domain=DOMAIN, project="handheld", charset="utf-8")
    with p.open("rb") as fh:
        return _read(fh, locale=lang, domain=DOMAIN)


def compile_mo(catalog) -> bytes:
    from babel.messages.mofile import write_mo

    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def update(ids: set[str]) -> None:
    from babel.messages.pofile import write_po

    for lang in LANGUAGES:
        cat = read_po(lang)
        for msgid in sorted(ids):
            if msgid not in cat:
                cat.add(msgid, "")
        p = po_path(lang)
        p.parent.mkdir(parents=True, exist_ok=True)
        with p.open("wb") as fh:
            write_po(fh, cat, width=0, sort_output=True, omit_header=False)
        p.with_suffix(".mo").write_bytes(compile_mo(read_po(lang)))


def po_meaning(catalog) -> dict[object, str]:
    """What a .po tells the terminal: gettext's key → text, as the stdlib reads it from a .mo
    compiled without fuzzy or untranslated entries (``"ctx\x04id"``; ``(id, n)`` for plural n)."""
    out: dict[object, str] = {}
    for m in catalog:
        if not m.id or m.fuzzy or not m.string or (isinstance(m.string, tuple) and not any(m.string)):
            continue
        prefix = f"{m.context}\x04" if m.context else ""
        if isinstance(m.id, tuple):
            for n, text in enumerate(m.string):
                out[(prefix + m.id[0], n)] = text
        else:
            out[prefix + m.id] = m.string
    return out


def mo_meaning(path: Path) -> tuple[dict[object, str], dict[str, str]]:
    """The messages and the header of a compiled catalog, read by the stdlib gettext the terminal
    uses (so the check holds whichever Babel version compiled it)."""
    import gettext

    with path.open("rb") as fh:
        t = gettext.GNUTranslations(fh)
    messages = {k: v for k, v in t._catalog.items() if k != ""}  # "" is the header
    return messages, t.info()


def mo_problems(lang: str, catalog, mo: Path) -> list[str]:
    """How the compiled catalog ``mo`` says other than the .po's ``catalog`` for language ``lang``."""
    stale = f"{mo} is not compiled from its .po: run python -m ui.build_catalogs"
    if not mo.exists():
        return [stale]
    messages, info = mo_meaning(mo)
    wanted = po_meaning(catalog)
    out = []
    if messages != wanted:
        differ = sorted(repr(k) for k in wanted.keys() ^ messages.keys()) + sorted(
            repr(k) for k in wanted.keys() & messages.keys() if wanted[k] != messages[k])
        out.append(f"{stale} ({len(differ)} messages differ, e.g. {', '.join(differ[:3])})")
    if info.get("language") != lang:
        out.append(f"{mo} says Language: {info.get('language')!r}, not {lang!r}")
    if info.get("plural-forms") != catalog.plural_forms:
        out.append(f"{mo} says Plural-Forms: {info.get('plural-forms')!r}, the .po {catalog.plural_forms!r}")
    return out


def problems() -> list[str]:
    """What is wrong with the catalogs: a .mo that says other than its .po (messages, plurals,
    language: the meaning, not the bytes a Babel version writes), a zh_CN translation missing."""
    out: list[str] = []
    for lang in LANGUAGES:
        out += mo_problems(lang, read_po(lang), po_path(lang).with_suffix(".mo"))
    zh = read_po("zh_CN")
    for msgid in sorted(extract()):
        m = zh.get(msgid)
        if m is None or not m.string:
            out.append(f"zh_CN has no translation for {msgid!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--check" in argv:
        found = problems()
        print("\n".join(found) or "catalogs up to date")
        return 1 if found else 0
    update(extract())
    return 0


if __name__ == "__main__":
    sys.exit(main())
