"""The lessons in another language, generated from the English notebooks and one catalog each.

    python -m ssmlab.translation status                     # what is untranslated or stale
    python -m ssmlab.translation update notebooks/03-*.ipynb  # add new cells, flag changed ones
    python -m ssmlab.translation build notebooks/03-*.ipynb   # write notebooks/ja/03-*.ipynb

The English notebook is the one source. ``notebooks/locale/<lang>/NN-name.po`` (gettext,
read and written with Babel) holds one entry per markdown cell: ``msgctxt`` is the cell's
id, ``msgid`` its English source, ``msgstr`` the translation, and an extracted comment
``en-sha256: …`` the hash of the English source the translation was made from.

``build`` writes ``notebooks/<lang>/NN-name.ipynb``: the English code cells unchanged but
for the first, whose ``ssmlab.start(lesson=N)`` gains ``language="<lang>"`` (so the
library's own sentences follow, ``ssmlab/i18n.py``), and each markdown cell replaced by its
translation. ``make notebooks`` then executes it, so its stored outputs are its own.

When an English cell changes, ``tests/test_translation.py`` fails naming the lesson and the
cell until the translation is revisited: ``update`` sets the new English as ``msgid``,
keeps the old one as ``#| msgid`` (the diff to translate) and marks the entry ``fuzzy``;
the translator revises ``msgstr``, removes ``fuzzy``, and runs ``update`` again, which
stamps the new hash. A new cell gets an empty entry; a deleted cell's entry is dropped.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LANGUAGES = ("ja",)
HASH_NOTE = "en-sha256: "
#: A fuzzy entry's English as it was when translated, one "#." line each, for the translator.
BEFORE_NOTE = "en-before: "
START = re.compile(r"ssmlab\.start\(lesson=(\d+)\)")


def source_hash(source: str) -> str:
    """The first 16 hex digits of the SHA-256 of a cell's English source."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def catalog_path(lesson: Path, language: str) -> Path:
    return lesson.parent / "locale" / language / (lesson.stem + ".po")


def edition_path(lesson: Path, language: str) -> Path:
    return lesson.parent / language / lesson.name


def english_lessons(folder: Path = NOTEBOOKS) -> list[Path]:
    return sorted(folder.glob("[0-9][0-9]-*.ipynb"))


def _read_notebook(path: Path):
    import nbformat

    return nbformat.read(path, as_version=4)


def read_catalog(path: Path):
    from babel.messages.pofile import read_po

    with path.open("rb") as handle:
        return read_po(handle, abort_invalid=True)


def write_catalog(catalog, path: Path) -> None:
    from babel.messages.pofile import write_po

    path.parent.mkdir(parents=True, exist_ok=True)
    # No "#| msgid" lines: Babel wraps comments at 76 columns whatever ``width`` says, which
    # splits a multi-line previous msgid into lines its own reader takes for plain "# |"
    # comments. The English a fuzzy entry was translated from is kept as BEFORE_NOTE lines.
    with path.open("wb") as handle:
        write_po(handle, catalog, width=0, omit_header=False, include_previous=False, sort_output=False)


def recorded_hash(message) -> str | None:
    for note in message.auto_comments:
        if note.startswith(HASH_NOTE):
            return note[len(HASH_NOTE):].strip()
    return None


def _set_hash(message, value: str) -> None:
    message.auto_comments = [n for n in message.auto_comments
                             if not n.startswith((HASH_NOTE, BEFORE_NOTE))] + [HASH_NOTE + value]


def _with_english_before(message) -> list[str]:
    """The auto comments of a changed entry: the English it was translated from, kept from
    the first change on (a second change before revision keeps the first English)."""
    notes = list(message.auto_comments)
    if not any(n.startswith(BEFORE_NOTE) for n in notes):
        notes += [BEFORE_NOTE + line for line in message.id.splitlines()]
    return notes


def markdown_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "markdown"]


@dataclass(frozen=True)
class Problem:
    lesson: str
    cell: str
    sentence: str

    def __str__(self) -> str:
        return f"{self.lesson}, cell {self.cell!r}: {self.sentence}"


def problems(lesson: Path, language: str) -> list[Problem]:
    """Every reason the catalog of ``lesson`` does not translate its English notebook as it is now."""
    name = lesson.stem
    po = catalog_path(lesson, language)
    if not po.is_file():
        return [Problem(name, "*", f"has no {language} catalog {po.relative_to(lesson.parent)}: "
                                   f"run `python -m ssmlab.translation update {lesson.name}` and translate it")]
    catalog = read_catalog(po)
    entries = {message.context: message for message in catalog if message.id}
    found = []
    cells = markdown_cells(_read_notebook(lesson))
    for cell in cells:
        message = entries.get(cell.id)
        if message is None or not message.string:
            found.append(Problem(name, cell.id, f"markdown cell is not translated into {language}"))
        elif recorded_hash(message) != source_hash(cell.source) or message.id != cell.source:
            found.append(Problem(name, cell.id, f"English source changed since its {language} translation "
                                                "(revise msgstr, remove fuzzy, run update)"))
        elif message.fuzzy:
            found.append(Problem(name, cell.id, f"{language} translation is marked fuzzy: revise it, remove the flag"))
    ids = {cell.id for cell in cells}
    for context in entries:
        if context not in ids:
            found.append(Problem(name, str(context), f"{language} catalog has a stale entry: "
                                                     "no markdown cell of the English lesson has this id"))
    return found


def update(lesson: Path, language: str) -> Path:
    """Bring the catalog in step with the English notebook (see the module docstring)."""
    from babel.messages.catalog import Catalog

    po = catalog_path(lesson, language)
    catalog = read_catalog(po) if po.is_file() else None
    old = {message.context: message for message in catalog or [] if message.id}
    fresh = Catalog(locale=language, project="ssmlab", version=lesson.stem, fuzzy=False,
                    header_comment=f"# {lesson.name} in {language}: one entry per markdown cell "
                                   "(ssmlab/translation.py says how to keep it in step).",
                    creation_date=catalog.creation_date if catalog else None,
                    revision_date=catalog.revision_date if catalog else None)
    if catalog is not None:
        fresh.last_translator, fresh.language_team = catalog.last_translator, catalog.language_team
    for cell in markdown_cells(_read_notebook(lesson)):
        message = old.get(cell.id)
        digest = source_hash(cell.source)
        if message is None:
            fresh.add(cell.source, "", context=cell.id, auto_comments=[HASH_NOTE + digest])
            continue
        if message.id != cell.source:
            flags = set(message.flags) | {"fuzzy"}
            fresh.add(cell.source, message.string, context=cell.id, flags=flags,
                      auto_comments=_with_english_before(message), user_comments=list(message.user_comments))
            continue
        added = fresh.add(cell.source, message.string, context=cell.id, flags=set(message.flags),
                          auto_comments=list(message.auto_comments), user_comments=list(message.user_comments))
        if message.string and not added.fuzzy:
            _set_hash(added, digest)
    write_catalog(fresh, po)
    return po


def edition(lesson: Path, language: str):
    """The ``language`` edition of ``lesson`` as a notebook, without outputs."""
    bad = problems(lesson, language)
    if bad:
        from .errors import LabError
        from .i18n import _

        raise LabError(_("{first} ({count} problem(s) in all; `python -m ssmlab.translation status`).").format(
            first=bad[0], count=len(bad)))
    nb = _read_notebook(lesson)
    entries = {m.context: m.string for m in read_catalog(catalog_path(lesson, language)) if m.id}
    edition = copy.deepcopy(nb)
    first = True
    for cell in edition.cells:
        if cell.cell_type == "markdown":
            cell.source = entries[cell.id]
        elif cell.cell_type == "code":
            if first:
                cell.source = START.sub(rf'ssmlab.start(lesson=\1, language="{language}")', cell.source, count=1)
                first = False
            cell.outputs = []
            cell.execution_count = None
    edition.metadata["ssmlab"] = {"language": language, "translated_from": f"../{lesson.name}"}
    return edition


def build(lesson: Path, language: str) -> Path:
    """Write the ``language`` edition of ``lesson``; stored outputs of unchanged code cells
    are kept (``make notebooks`` then runs it, so they are its own)."""
    import nbformat

    edition_ = edition(lesson, language)
    out = edition_path(lesson, language)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.is_file():  # keep stored outputs of code cells whose source did not change
        stored = {c.id: c for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code"}
        for cell in edition_.cells:
            kept = stored.get(cell.id)
            if cell.cell_type == "code" and kept is not None and kept.source == cell.source:
                cell.outputs, cell.execution_count = kept.outputs, kept.execution_count
    nbformat.validate(edition_)
    nbformat.write(edition_, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ssmlab.translation",
                                     description="Translated editions of the lessons, from one catalog per lesson.")
    parser.add_argument("command", choices=("status", "update", "build"))
    parser.add_argument("notebooks", nargs="*", type=Path, help="English lessons (default: all)")
    parser.add_argument("--language", default="ja", choices=LANGUAGES)
    args = parser.parse_args(argv)
    lessons = [p.resolve() for p in args.notebooks] or english_lessons()
    failed = 0
    for lesson in lessons:
        if args.command == "status":
            for problem in problems(lesson, args.language):
                print(problem)
                failed += 1
        elif args.command == "update":
            print(update(lesson, args.language))
        else:
            try:
                print(build(lesson, args.language))
            except Exception as error:  # noqa: BLE001 - one sentence per lesson, go on
                print(f"{lesson.name}: {error}", file=sys.stderr)
                failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
