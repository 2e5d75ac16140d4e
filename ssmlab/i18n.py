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
import io
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

        raise LabError(_("language must be one of {languages}, not {language!r}.").format(
            languages=", ".join(LANGUAGES), language=language))
    _language = language
    if language == "en":
        _translation = gettext.NullTranslations()
    else:
        _translation = catalog(language)


def catalog(language: str) -> gettext.NullTranslations:
    """The compiled catalog of ``language``: its ``.mo`` (``make`` compiles it), or, when that
    is missing or older than the ``.po`` (a fresh clone, an edited catalog), the ``.po``
    compiled in memory with Babel, so the library never speaks a stale translation."""
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    if not po.is_file():
        return gettext.NullTranslations()
    return gettext.GNUTranslations(io.BytesIO(compile_po(po)))


def compile_po(po: Path) -> bytes:
    """``po`` as ``.mo`` bytes (Babel's compiler, as ``pybabel compile`` uses); fuzzy entries
    are left out, as gettext does."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as handle:
        messages = read_po(handle)
    out = io.BytesIO()
    write_mo(out, messages, use_fuzzy=False)
    return out.getvalue()


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
