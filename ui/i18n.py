"""Operator-facing language: gettext catalogs under ``ui/locale`` (domain ``handheld``).

Chinese (zh_CN) is the default; English (en) is selectable in the settings screen.  Every
string shown on screen is an English msgid passed through a :class:`Translator` — screens call
``self._("…")``; module-level tables mark their msgids with :func:`N_` and translate when drawn.
The catalogs are ``ui/locale/<lang>/LC_MESSAGES/handheld.po`` (edited by hand) compiled to
``handheld.mo`` with ``python -m ui.build_catalogs`` (Babel; a test checks the .mo is current).

The translator belongs to the app instance (no ``gettext.install`` into builtins), so two apps
in one test process can speak different languages.
"""

from __future__ import annotations

import gettext
from pathlib import Path

DOMAIN = "handheld"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("zh_CN", "en")
DEFAULT_LANGUAGE = "zh_CN"


def N_(msgid: str) -> str:
    """Mark a msgid for extraction without translating it (translated when drawn)."""
    return msgid


class Translator:
    """gettext for one language; ``translator(msgid)`` returns the text to show."""

    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        self.language = DEFAULT_LANGUAGE
        self._t: gettext.NullTranslations = gettext.NullTranslations()
        self.set_language(language)

    def set_language(self, language: str) -> None:
        if language not in LANGUAGES:
            language = DEFAULT_LANGUAGE
        # fallback=True: a missing catalog shows the English msgid rather than crashing the terminal
        self._t = gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)
        self.language = language

    def __call__(self, msgid: str) -> str:
        return self._t.gettext(msgid)

    def error(self, exc: BaseException) -> str:
        """The operator's message for an exception: what happened — what to do."""
        from terminal_app.errors import HandheldError

        if isinstance(exc, HandheldError):
            try:
                return exc.localized(self)
            except (KeyError, IndexError, ValueError):  # a translation with a broken placeholder
                return str(exc)
        _ = self
        return _("Unexpected error: {error}. Note it and call the technician.").format(error=type(exc).__name__)
