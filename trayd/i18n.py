"""Translations: Japanese first, English second, through gettext catalogues.

Message ids in the code are English; `po/ja/*.po` holds the Japanese wording, which
follows the ePass2003 manual (「トークンが挿入されました。」 …). `language = "auto"` picks
the locale's language when a catalogue exists for it and otherwise Japanese, because the
manual's users are Japanese. `_` is resolved at call time, so `set_language()` after
import (from the config) takes effect everywhere.
"""
from __future__ import annotations

import gettext
import locale
import logging
import os
from pathlib import Path

DOMAIN = "trayd"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
SUPPORTED = ("ja", "en")

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def _locale_language() -> str | None:
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return value.split(":")[0].split("_")[0].split(".")[0].lower() or None
    try:
        lang = locale.getlocale(locale.LC_MESSAGES)[0]
    except (ValueError, AttributeError):
        lang = None
    return lang.split("_")[0].lower() if lang else None


def resolve_language(setting: str = "auto") -> str:
    """Map a config value ("auto", "ja", "en", "ja_JP.UTF-8", …) to a supported language."""
    setting = (setting or "auto").strip().lower()
    if setting != "auto":
        lang = setting.split("_")[0].split(".")[0]
        return lang if lang in SUPPORTED else "ja"
    lang = _locale_language()
    return lang if lang in SUPPORTED else "ja"


def set_language(setting: str = "auto") -> str:
    """Activate the catalogue for `setting`; returns the language in use."""
    global _translation, _language
    _language = resolve_language(setting)
    _translation = gettext.translation(
        DOMAIN, localedir=str(LOCALE_DIR), languages=[_language], fallback=True
    )
    if _language != "en" and not isinstance(_translation, gettext.GNUTranslations):
        # Loud, because the symptom is an English window next to a Japanese tray.
        logging.getLogger(__name__).warning(
            "no %s catalogue in %s (run `make mo`); messages stay English",
            _language, LOCALE_DIR)
    return _language


def current_language() -> str:
    return _language


def _(message: str) -> str:
    """Translate `message` into the active language."""
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translation.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark for extraction without translating now (translate later with `_`)."""
    return message


set_language(os.environ.get("TRAYD_LANGUAGE", "auto"))
