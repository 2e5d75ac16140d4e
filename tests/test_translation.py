"""The Japanese edition stays in step with the English lessons (ssmlab/translation.py).

Fails when: an English markdown cell changed since its translation (the recorded hash differs),
a markdown cell is untranslated, the catalog holds an entry for a cell that no longer exists,
notebooks/ja/ was not regenerated from the English notebook and its catalog, a translated cell
leaves out the glossary's term for an English term its source uses (or uses a banned variant),
or a code span, a code block (commands, JSON, AWS's messages as AWS prints them) differs.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest

from ssmlab import translation

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
LESSONS = translation.english_lessons(NOTEBOOKS)
GLOSSARY = NOTEBOOKS / "locale" / "ja" / "glossary.tsv"
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
FENCE = re.compile(r"^( *)```.*?^\1```", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
TAG = re.compile(r"<[^>]+>")


def _ids(paths):
    return [p.stem for p in paths]


def glossary() -> list[tuple[re.Pattern, str, list[str]]]:
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        english, japanese, banned = (line.split("\t") + [""])[:3]
        rows.append((re.compile(rf"\b{english}\b", re.I), japanese, [b for b in banned.split(",") if b]))
    return rows


def prose(markdown: str) -> str:
    """The text a reader reads as prose: code blocks, code spans and HTML tags removed."""
    return TAG.sub(" ", CODE_SPAN.sub(" ", FENCE.sub(" ", markdown)))


def code(markdown: str) -> tuple[list[str], list[str]]:
    """The code blocks and the code spans (outside blocks) of a markdown text, whitespace-normalised."""
    blocks = [" ".join(m.group(0).split()) for m in FENCE.finditer(markdown)]
    spans = [" ".join(m.group(2).split()) for m in CODE_SPAN.finditer(FENCE.sub(" ", markdown))]
    return blocks, spans


def translated_cells(lesson: Path):
    """(cell id, English source, Japanese source) of each markdown cell."""
    catalog = translation.read_catalog(translation.catalog_path(lesson, "ja"))
    entries = {m.context: m.string for m in catalog if m.id}
    nb = nbformat.read(lesson, as_version=4)
    return [(c.id, c.source, entries.get(c.id, "")) for c in translation.markdown_cells(nb)]


@pytest.mark.parametrize("lesson", LESSONS, ids=_ids(LESSONS))
def test_every_markdown_cell_is_translated_from_the_current_english(lesson):
    found = translation.problems(lesson, "ja")
    assert not found, "\n".join(map(str, found))


@pytest.mark.parametrize("lesson", LESSONS, ids=_ids(LESSONS))
def test_the_japanese_notebook_is_generated_from_the_english_one(lesson):
    """notebooks/ja/NN is what `python -m ssmlab.translation build` makes of today's sources."""
    stored = translation.edition_path(lesson, "ja")
    assert stored.is_file(), f"{stored.relative_to(ROOT)} is missing: run `make notebooks`"
    expected = translation.edition(lesson, "ja")
    actual = nbformat.read(stored, as_version=4)

    def shape(nb):
        return [(c.id, c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells]

    assert shape(actual) == shape(expected), (
        f"{stored.relative_to(ROOT)} is not generated from {lesson.name} and its catalog: run "
        f"`python -m ssmlab.translation build notebooks/{lesson.name}`, then execute it (make notebooks)"
    )
    first = next(c for c in actual.cells if c.cell_type == "code")
    assert f'ssmlab.start(lesson={int(lesson.name[:2])}, language="ja")' in first.source


@pytest.mark.parametrize("lesson", LESSONS, ids=_ids(LESSONS))
def test_the_japanese_lesson_states_the_english_time(lesson):
    """**所要時間:** 約 N 分 (ファストパスでは M 分): the numbers tests/test_lesson_times.py checks."""
    from ssmlab.notebooks import stated

    total, fast = stated(nbformat.read(lesson, as_version=4))
    first = translation.edition(lesson, "ja").cells[0].source
    match = re.search(r"\*\*所要時間:\*\* 約 (\d+) 分。(?:ファストパスでは (\d+) 分)?", first)
    assert match, f"{lesson.name}: the Japanese first cell states no 所要時間"
    assert (int(match[1]), int(match[2]) if match[2] else None) == (total, fast), lesson.name


def test_every_japanese_lesson_has_its_english_source():
    orphans = [p.name for p in (NOTEBOOKS / "ja").glob("*.ipynb") if not (NOTEBOOKS / p.name).is_file()]
    catalogs = [p.name for p in (NOTEBOOKS / "locale" / "ja").glob("*.po")
                if not (NOTEBOOKS / (p.stem + ".ipynb")).is_file()]
    assert not orphans and not catalogs, f"no English lesson for {orphans + catalogs}: delete them"


@pytest.mark.parametrize("lesson", LESSONS, ids=_ids(LESSONS))
def test_translations_use_the_glossary_terms(lesson):
    rows = glossary()
    wrong = []
    for cell_id, english, japanese in translated_cells(lesson):
        for pattern, term, banned in rows:
            if pattern.search(prose(english)) and term not in prose(japanese):
                wrong.append(f"cell {cell_id!r}: the English says {pattern.pattern[2:-2]!r}, the Japanese lacks {term!r}")
            for variant in banned:
                if variant in japanese:
                    wrong.append(f"cell {cell_id!r}: {variant!r} is not the glossary's term (use {term!r})")
    assert not wrong, f"{lesson.name}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("lesson", LESSONS, ids=_ids(LESSONS))
def test_code_commands_and_aws_messages_stay_as_written(lesson):
    """Every code block is the English one, and every code span of the English is in the Japanese:
    commands, JSON, and AWS's messages stay exactly as AWS prints them."""
    wrong = []
    for cell_id, english, japanese in translated_cells(lesson):
        en_blocks, en_spans = code(english)
        ja_blocks, ja_spans = code(japanese)
        if en_blocks != ja_blocks:
            wrong.append(f"cell {cell_id!r}: its code blocks differ from the English")
        missing = [span for span in en_spans if span not in ja_spans]
        if missing:
            wrong.append(f"cell {cell_id!r}: code spans missing or changed: {missing}")
        if not JAPANESE.search(prose(japanese)):
            wrong.append(f"cell {cell_id!r}: no Japanese prose")
    assert not wrong, f"{lesson.name}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("lesson", LESSONS, ids=_ids(LESSONS))
def test_the_blog_author_is_credited_as_in_english(lesson):
    """Where the English names the author (*たいがー*, Tiger), so does the Japanese."""
    for cell_id, english, japanese in translated_cells(lesson):
        for name in ("たいがー", "Tiger"):
            if name in english:
                assert name in japanese, f"{lesson.name} cell {cell_id!r} drops the author's name {name!r}"


def test_the_glossary_checks_what_it_should():
    rows = glossary()
    role = next(r for r in rows if r[1] == "ロール")
    assert role[0].search(prose("the role's trust policy")) and not role[0].search(prose("`role-for-ec2`"))
    assert "役割" in role[2]
    assert code("Run `aws iam get-role` now.\n\n```\nls\n```") == (["``` ls ```"], ["aws iam get-role"])


# ------------------------------------------------------------ the drift test, on a made-up lesson


@pytest.fixture
def lesson(tmp_path):
    """A two-markdown-cell lesson in a folder of its own, with a complete Japanese catalog."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 09 · A lesson", id="m0"),
        nbformat.v4.new_code_cell("import ssmlab\nlab = ssmlab.start(lesson=9)\n%xmode Minimal", id="k0"),
        nbformat.v4.new_markdown_cell("A role has a trust policy.", id="m1"),
    ]
    path = tmp_path / "09-made-up.ipynb"
    nbformat.write(nb, path)
    translation.update(path, "ja")
    catalog = translation.read_catalog(translation.catalog_path(path, "ja"))
    for message in catalog:
        if message.id:
            message.string = {"m0": "# 09 · レッスン", "m1": "ロールには信頼ポリシーがあります。"}[message.context]
    translation.write_catalog(catalog, translation.catalog_path(path, "ja"))
    translation.update(path, "ja")
    return path


def _edit(path, change):
    nb = nbformat.read(path, as_version=4)
    change(nb)
    nbformat.write(nb, path)


def test_a_complete_catalog_builds_the_edition(lesson):
    assert translation.problems(lesson, "ja") == []
    out = translation.build(lesson, "ja")
    cells = nbformat.read(out, as_version=4).cells
    assert [c.source for c in cells] == [
        "# 09 · レッスン",
        'import ssmlab\nlab = ssmlab.start(lesson=9, language="ja")\n%xmode Minimal',
        "ロールには信頼ポリシーがあります。",
    ]


def test_an_english_change_fails_naming_the_lesson_and_cell(lesson):
    _edit(lesson, lambda nb: setattr(nb.cells[2], "source", "A role has one trust policy."))
    [problem] = translation.problems(lesson, "ja")
    assert str(problem).startswith("09-made-up, cell 'm1': English source changed since its ja translation")
    with pytest.raises(Exception, match="09-made-up, cell 'm1'"):
        translation.build(lesson, "ja")
    # update flags it fuzzy with the old English kept; it still fails until revised.
    translation.update(lesson, "ja")
    [message] = [m for m in translation.read_catalog(translation.catalog_path(lesson, "ja")) if m.context == "m1"]
    assert message.fuzzy and message.string == "ロールには信頼ポリシーがあります。"
    # the English it was translated from, for the translator, as it survives another update
    translation.update(lesson, "ja")
    text = translation.catalog_path(lesson, "ja").read_text()
    assert "#. en-before: A role has a trust policy." in text and "# |" not in text
    assert [p.cell for p in translation.problems(lesson, "ja")] == ["m1"]
    # The translator revises, removes the flag; update stamps the new hash.
    catalog = translation.read_catalog(translation.catalog_path(lesson, "ja"))
    revised = next(m for m in catalog if m.context == "m1")
    revised.string, revised.flags = "ロールには信頼ポリシーが 1 つあります。", set()
    translation.write_catalog(catalog, translation.catalog_path(lesson, "ja"))
    translation.update(lesson, "ja")
    assert translation.problems(lesson, "ja") == []
    assert "en-before" not in translation.catalog_path(lesson, "ja").read_text()


def test_an_untranslated_cell_fails(lesson):
    _edit(lesson, lambda nb: nb.cells.append(nbformat.v4.new_markdown_cell("## Recap", id="m2")))
    assert [str(p) for p in translation.problems(lesson, "ja")] == [
        "09-made-up, cell 'm2': markdown cell is not translated into ja"
    ]
    translation.update(lesson, "ja")  # an empty entry is still untranslated
    assert [p.cell for p in translation.problems(lesson, "ja")] == ["m2"]


def test_an_entry_for_a_deleted_cell_fails(lesson):
    _edit(lesson, lambda nb: nb.cells.pop(2))
    assert [str(p) for p in translation.problems(lesson, "ja")] == [
        "09-made-up, cell 'm1': ja catalog has a stale entry: no markdown cell of the English lesson has this id"
    ]


def test_a_lesson_without_a_catalog_fails(lesson, tmp_path):
    shutil.rmtree(tmp_path / "locale")
    [problem] = translation.problems(lesson, "ja")
    assert "has no ja catalog" in str(problem) and problem.lesson == "09-made-up"
