"""Keep the gettext catalogs in step with the code: extract msgids, update the .po, compile .mo.

    python -m ui.build_catalogs            # add new msgids to every .po, compile every .mo
    python -m ui.build_catalogs --check    # exit 1 if a .mo is stale or a zh_CN msgstr is missing

msgids come from ``ui/`` (``_("…")`` / ``self._("…")`` / ``N_("…")`` calls, screen ``title``
attributes, soft-key labels, the first arguments of ``…Error("…", "…")`` raised to the operator)
and from the modules in :data:`EXTRA_SOURCES` (the same calls, ``default_action`` sentences,
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
from collections.abc import Iterable
from pathlib import Path

from ui.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

UI_DIR = Path(__file__).resolve().parent
ROOT = UI_DIR.parent
#: where the errors and warnings the operator sees are raised (their msgids are translated too):
#: every module that raises a HandheldError subclass with literal messages, or defines one with a
#: ``default_action`` (tests/unit/test_ui_i18n.py sweeps the tree and fails on a module left out).
#: Not here: hw_mocks (QA's simulators) and terminal_app/cli (prints English/Chinese itself, no gettext).
EXTRA_SOURCES = tuple(ROOT / p for p in (  # missing files are skipped (a package not built yet)
    # core: errors, domain rules, configuration, tariffs
    "terminal_app/errors.py", "terminal_app/config.py", "terminal_app/operators.py",
    "terminal_app/domain/abnormal.py", "terminal_app/domain/bill.py", "terminal_app/domain/customer.py",
    "terminal_app/domain/dunning.py", "terminal_app/domain/errors.py", "terminal_app/domain/money.py",
    "terminal_app/domain/payment.py", "terminal_app/domain/reading.py", "terminal_app/domain/records.py",
    "terminal_app/domain/tariff.py", "terminal_app/domain/validation.py", "terminal_app/domain/reasons.py",
    "terminal_app/domain/penalty.py", "terminal_app/domain/allocation.py",
    "terminal_app/tariffs/loader.py",
    # use cases
    "terminal_app/services/bill_query.py", "terminal_app/services/common.py",
    "terminal_app/services/dunning.py", "terminal_app/services/payment.py",
    "terminal_app/services/reading.py", "terminal_app/services/reversal.py",
    "terminal_app/services/route.py", "terminal_app/services/store.py",
    "terminal_app/services/terminal.py", "terminal_app/services/topup.py",
    "terminal_app/services/day_close.py", "terminal_app/services/settlement.py",
    "terminal_app/services/session.py", "terminal_app/services/views.py", "terminal_app/services/today.py",
    "terminal_app/cli/simulate.py",  # the simulate-mode commands' messages (SimControls)
    # master station link and the offline journal
    "terminal_app/station/client.py", "terminal_app/station/protocol.py", "terminal_app/station/seq.py",
    "terminal_app/station/transport.py", "terminal_app/station/refusals.py",
    "offline_queue/journal.py",
    # device drivers (their protocol errors reach the screen too)
    "drivers/ic_card/apdu.py", "drivers/ic_card/card.py", "drivers/ic_card/model.py",
    "drivers/ic_card/pcsc.py", "drivers/ic_card/protocol.py", "drivers/ic_card/reader.py",
    "drivers/ir_meter/di.py", "drivers/ir_meter/driver.py", "drivers/ir_meter/protocol.py",
    "drivers/modem/driver.py", "drivers/modem/protocol.py", "drivers/modem/transport.py",
    "drivers/printer/driver.py", "drivers/printer/errors.py", "drivers/printer/layout.py",
    "drivers/printer/protocol.py", "drivers/printer/templates.py", "drivers/printer/ticket.py",
    "drivers/scanner/__init__.py", "drivers/scanner/camera.py", "drivers/scanner/protocol.py",
    "drivers/scanner/serial_scanner.py", "drivers/scanner/wedge.py",
))
#: call names whose first two literal arguments are the two sentences of an error
ERROR_SUFFIXES = ("Error", "Refused", "Pending")


def _str(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def extract_file(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Reason":  # enum of refusal msgids (services.topup)
            found.update(s for a in node.body if isinstance(a, ast.Assign) and (s := _str(a.value)))
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name in ("_", "N_") and node.args and _str(node.args[0]) is not None:
                found.add(_str(node.args[0]))  # type: ignore[arg-type]
            elif name == "ReadingWarning" and len(node.args) > 1 and _str(node.args[1]):
                found.add(_str(node.args[1]))  # type: ignore[arg-type]
            elif name.endswith(ERROR_SUFFIXES) and not _is_builtin_exception(name):
                # what failed and what to do: TopupRefused(Reason.X, "action") has only the second
                # (ValueError("…") and the like are program errors: the UI shows "Unexpected error")
                found.update(s for a in node.args[:2] if (s := _str(a)))
            elif name == "open_serial":  # open_serial(url, what, action): DeviceNotFoundError(what, action)
                found.update(s for a in node.args[1:3] if (s := _str(a)))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            if names & {"title", "default_action"} and node.value is not None and _str(node.value):
                found.add(_str(node.value))  # type: ignore[arg-type]
            if "softkeys" in names and node.value is not None:
                found.update(_softkey_labels(node.value))
        elif isinstance(node, ast.FunctionDef) and node.name == "softkeys":
            for sub in node.body:
                found.update(_softkey_labels(sub))
        if isinstance(node, ast.ClassDef) and node.name.endswith(ERROR_SUFFIXES):
            # an error class fixing its own sentences: super().__init__("what", "action", **params)
            for sub in ast.walk(node):
                if isinstance(sub, ast.Call) and _call_name(sub) == "__init__" and _is_super(sub.func):
                    found.update(s for a in sub.args[:2] if (s := _str(a)))
    for stmt in tree.body:  # module-level advice shared by several raises: AIM_ACTION = "…"
        if isinstance(stmt, ast.Assign) and (s := _str(stmt.value)) and any(
                isinstance(t, ast.Name) and t.id.endswith("_ACTION") for t in stmt.targets):
            found.add(s)
    found.discard("")
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
    ids: set[str] = set()
    for path in sorted(UI_DIR.rglob("*.py")):
        ids |= extract_file(path)
    for path in EXTRA_SOURCES:
        if path.exists():
            ids |= extract_file(path)
    return ids


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
