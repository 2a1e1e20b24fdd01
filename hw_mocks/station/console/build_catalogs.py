"""Keep the console's gettext catalogs (domain ``console``) in step with its templates and code.

    python -m hw_mocks.station.console.build_catalogs           add new msgids to each .po, compile each .mo
    python -m hw_mocks.station.console.build_catalogs --check   exit 1 if a .mo is stale or a zh_CN msgstr is missing

msgids: ``_("…")`` in the templates and ``g.t.gettext("…")`` in app.py, plus :data:`DYNAMIC` (role names and
labels built at run time).  Babel (a test dependency) reads and writes the catalogs; the console itself
reads the .mo with the stdlib ``gettext``.
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).resolve().parent
LOCALE_DIR = HERE / "locale"
LANGUAGES = ("zh_CN", "en")
DYNAMIC = ("administrator", "supervisor", "auditor", "by day", "by township", "by segment", "by operator",
           "by channel")
_CALL = re.compile(r"""(?:\b_|gettext)\(\s*(["'])((?:(?!\1).)+)\1\s*\)""", re.S)


def msgids() -> list[str]:
    found: set[str] = set(DYNAMIC)
    for path in [*sorted((HERE / "templates").glob("*.html")), HERE / "app.py"]:
        found.update(m.group(2) for m in _CALL.finditer(path.read_text(encoding="utf-8")))
    return sorted(found)


def _po(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / "console.po"


def _load(lang: str) -> Catalog:
    p = _po(lang)
    if p.exists():
        with p.open("rb") as fh:
            return read_po(fh, locale=lang)
    return Catalog(locale=lang, domain="console")


def _mo_bytes(cat: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, cat)
    return buf.getvalue()


def _translated(mo: bytes) -> dict[str, str]:
    import gettext

    t = gettext.GNUTranslations(io.BytesIO(mo))
    return {k: v for k, v in t._catalog.items() if k and v}  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    ids = msgids()
    bad = []
    for lang in LANGUAGES:
        cat = _load(lang)
        for mid in ids:
            if mid not in cat:
                cat.add(mid, "")
        for msg in list(cat):
            if msg.id and msg.id not in ids:
                cat.delete(msg.id)
        missing = [m.id for m in cat if m.id and not m.string and lang == "zh_CN"]
        mo = _po(lang).with_suffix(".mo")
        if check:
            if missing:
                bad.append(f"{lang}: no translation for {missing}")
            if not mo.exists() or _translated(mo.read_bytes()) != {m.id: m.string for m in cat if m.id and m.string}:
                bad.append(f"{lang}: {mo} is stale; run python -m hw_mocks.station.console.build_catalogs")
            continue
        _po(lang).parent.mkdir(parents=True, exist_ok=True)
        with _po(lang).open("wb") as fh:
            write_po(fh, cat, width=0, omit_header=True, sort_output=True)
        mo.write_bytes(_mo_bytes(cat))
    for line in bad:
        print(line, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
