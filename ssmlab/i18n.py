"""The language the library speaks: English, or the lesson's language (gettext).

Every sentence a learner reads from the library (checker feedback, hints, LabError
sentences, labels, command help) is written in English inside ``_("…")``; the catalogs
under ``ssmlab/locale/<lang>/LC_MESSAGES/ssmlab.po`` translate it, compiled to ``.mo`` at
build. ``set_language("ja")`` (the Japanese lessons' first cell does it through
``ssmlab.start(language="ja")``) switches; ``SSMLAB_LANGUAGE`` sets it for the ``ssmlab``
command. Text AWS itself prints (error codes and messages, CLI output, agent log lines)
is never passed through ``_``: it is in English on AWS too.
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path

DOMAIN = "ssmlab"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "ja")

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def set_language(language: str) -> None:
    global _translation, _language
    if language not in LANGUAGES:
        from .errors import LabError

        raise LabError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}.")
    _language = language
    if language == "en":
        _translation = gettext.NullTranslations()
    else:
        _translation = gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def language() -> str:
    return _language


def _(message: str) -> str:
    return _translation.gettext(message)


def N_(message: str) -> str:
    """Marks a sentence for translation where it is defined (a constant); ``_`` translates
    it where it is shown, so a later language switch still takes effect. Babel extracts
    ``N_`` by default."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translation.ngettext(singular, plural, n)


if os.environ.get("SSMLAB_LANGUAGE") in LANGUAGES:
    set_language(os.environ["SSMLAB_LANGUAGE"])
