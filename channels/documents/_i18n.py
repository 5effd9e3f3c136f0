"""The languages documents and e-mails are written in: gettext catalogues under `locale/<lang>/LC_MESSAGES/`.

The `.po` files are the source (extracted with `pybabel extract -F pyproject.toml`, see the README) and they are
what ships: a catalogue is compiled in memory the first time a language is used (a few milliseconds, once per
process), so a fresh install, an editable install and a wheel need no build step and no `.mo` file can go stale.
English is the source language: its messages are the msgids themselves.
"""

from __future__ import annotations

import gettext
import io
from functools import lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; it is translated where it is shown."""
    return message


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=1)
def languages() -> tuple[str, ...]:
    """English and every language with a catalogue, e.g. ('de', 'en', 'fr', 'nl')."""
    found = {p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return tuple(sorted(found | {SOURCE_LANGUAGE}))


@lru_cache(maxsize=16)
def translations(language: str) -> gettext.NullTranslations:
    """The language's translations (English, or a language without a catalogue: the msgids as they are)."""
    path = catalogue_path(language)
    if language == SOURCE_LANGUAGE or not path.is_file():
        return NullTranslations()
    with path.open("rb") as f:
        catalog = read_po(f, locale=language, domain=DOMAIN)
    mo = io.BytesIO()
    write_mo(mo, catalog, use_fuzzy=False)  # a fuzzy entry is a guess: the English text is better than a wrong one
    mo.seek(0)
    return Translations(mo, domain=DOMAIN)


def document_language(language: str | None, locale: str) -> str:
    """The language a client's documents are written in: the client's language if it is set (English when we have
    no catalogue for it), else the language of the client's locale (de_DE -> de) if we have it, else English."""
    tag = language or locale
    try:
        lang = str(Locale.parse(tag.replace("-", "_")).language) if tag else SOURCE_LANGUAGE
    except (ValueError, UnknownLocaleError):
        return SOURCE_LANGUAGE
    return lang if lang in languages() else SOURCE_LANGUAGE
