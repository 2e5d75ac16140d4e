"""The library speaks the lesson's language (ssmlab/i18n.py, ssmlab/locale/ja/LC_MESSAGES/ssmlab.po).

Fails on: a ``_("…")``/``N_("…")`` message in the source without a Japanese translation (the
messages are extracted with Babel exactly as babel.cfg says); a translation that drops or
renames a ``{placeholder}`` (``.format`` would raise); a catalog entry for a message the
source no longer has; a catalog that does not load when the ``.mo`` is missing or stale (a
fresh clone); checker feedback, a LabError or the command's help not in Japanese once
the language is ``ja``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from ssmlab import checks, i18n
from ssmlab.errors import LabError

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "ssmlab" / "locale" / "ja" / "LC_MESSAGES" / "ssmlab.po"
FIELD = re.compile(r"(?<!\{)\{([A-Za-z_]\w*)[^{}]*\}(?!\})")
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def source_messages() -> dict[str, str]:
    """Every message of the library's source, as `pybabel extract -F babel.cfg .` finds it."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        found.setdefault(message if isinstance(message, str) else message[0], f"{filename}:{lineno}")
    return found


def catalog():
    from babel.messages.pofile import read_po

    with PO.open("rb") as handle:
        return read_po(handle)


def key(message) -> str:
    """An entry's message as extraction names it: the singular of an ``ngettext`` pair."""
    return message.id[0] if isinstance(message.id, tuple) else message.id


def texts(message, field: str) -> list[str]:
    """``message.id`` or ``message.string`` as a list: one text, or each plural form."""
    value = getattr(message, field)
    return list(value) if isinstance(value, tuple) else [value]


@pytest.fixture
def japanese():
    i18n.set_language("ja")
    yield
    i18n.set_language("en")


def test_the_source_has_messages():
    found = source_messages()
    assert len(found) > 200 and "trust policy" in found, sorted(found)[:5]


def test_every_message_has_a_japanese_translation():
    entries = {key(m): m for m in catalog() if m.id}
    missing = [f"{where}: {message!r}" for message, where in source_messages().items()
               if message not in entries or not all(texts(entries[message], "string")) or entries[message].fuzzy]
    assert not missing, (
        f"{len(missing)} message(s) without a Japanese translation in {PO.relative_to(ROOT)} "
        "(babel.cfg: pybabel extract, then update, then translate):\n" + "\n".join(missing)
    )


def test_no_entry_outlives_its_message():
    stale = sorted(set(key(m) for m in catalog() if m.id) - set(source_messages()))
    assert not stale, f"entries whose message is gone from the source (remove them): {stale}"


def test_translations_keep_every_placeholder():
    wrong = [m.id for m in catalog() if m.id and all(texts(m, "string")) and
             any(sorted(FIELD.findall(text)) != sorted(FIELD.findall(texts(m, "id")[-1])) for text in texts(m, "string"))]
    assert not wrong, f"translations whose {{placeholders}} differ from the English: {wrong}"


def test_translations_are_japanese():
    # Names that stay as AWS writes them ("Systems Manager") may equal the English.
    same = [m.id for m in catalog() if m.id and not any(JAPANESE.search(t) for t in texts(m, "string"))
            and texts(m, "string") != texts(m, "id")]
    assert not same, same


def test_checker_feedback_follows_the_language(japanese):
    feedback = checks.check_trust_policy('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
                                         '"Principal": {"Service": "ec2.amazonaws.com"}, "Action": '
                                         '"sts:AssumeRole", "Resource": "*"}]}')
    # AWS's own words stay as AWS prints them, inside the Japanese sentence
    assert str(feedback).startswith("✗ まだです: Resource を削除してください")
    assert "MalformedPolicyDocument: Has prohibited field Resource" in str(feedback)
    i18n.set_language("en")
    assert str(checks.check_trust_policy("")).startswith("✗ Not yet: the policy is empty")


def test_a_lab_error_follows_the_language(japanese):
    import ssmlab

    with pytest.raises(LabError, match="^リージョン 'mars-1' はオフラインラボのリージョン"):
        ssmlab.start(region="mars-1", quiet=True)



def test_the_guards_and_reports_follow_the_language(japanese, tmp_path, monkeypatch):
    """The sentences of the clock, the account guard, scrub, clean-up and doctor, in Japanese."""
    from ssmlab import account, cleanup, doctor, scrub
    from ssmlab.simulation import clock

    with pytest.raises(LabError, match=r"^待ち時間を負にはできません（-5 秒）"):
        clock.check_wait(-5)
    monkeypatch.delenv(account.CONFIRM_VARIABLE, raising=False)
    with pytest.raises(LabError, match=f"^実際のアカウントは.*{account.CONFIRM_VARIABLE} に"):
        account.confirm_account(None)
    with pytest.raises(scrub.NotANotebook, match="^.*missing.ipynb は存在しません"):
        scrub.scrub_notebook(tmp_path / "missing.ipynb")
    assert cleanup.Report(dry_run=True, removed=["delete role x"]).summary().startswith(
        "ドライラン: 上の 1 個のステップ")
    assert doctor.check_package("no-such-package-of-ssmlab").detail.startswith(
        "インストールされていません。ssmlab フォルダーで `make lab`")


def test_clean_up_says_its_steps_in_japanese_and_reports_them_in_english(japanese):
    from ssmlab import cleanup

    class OfflineLab:
        offline = True

        def client(self, service):
            return None

    said = []
    cleaner = cleanup._Cleaner(OfflineLab(), scope=None, dry_run=True, emit=said.append)
    cleaner.do("remove", cleanup._Named("role {role} from instance profile {profile}", role="r", profile="p"),
               call=None)
    cleaner.keep(cleanup._Named(cleanup._KINDS["policy"], name="q"), "…")
    assert said == ["インスタンスプロファイル p からロール r を削除する予定です", "ポリシー q は残しました: …"]
    assert cleaner.report.removed == ["remove role r from instance profile p"]
    assert cleaner.report.kept == ["policy q"]

def test_start_sets_the_language_and_refuses_an_unknown_one():
    import ssmlab

    with pytest.raises(LabError, match="language must be one of en, ja, not 'fr'"):
        ssmlab.start(language="fr", quiet=True)
    assert i18n.language() == "en"
    try:
        with pytest.raises(LabError, match="^レッスン 99 はありません"):
            ssmlab.start(lesson=99, language="ja", quiet=True)
        assert i18n.language() == "ja"
    finally:
        i18n.set_language("en")


def test_the_command_help_follows_ssmlab_language():
    env = dict(os.environ, SSMLAB_LANGUAGE="ja")
    out = subprocess.run([sys.executable, "-m", "ssmlab.cli", "serve", "--help"], env=env,
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert "リソース ID のシード" in out.stdout, out.stdout + out.stderr


# ----------------------------------------------------- compiled catalogs on a fresh clone


@pytest.fixture
def locale_copy(tmp_path, monkeypatch):
    """The catalogs copied to a folder of their own, ssmlab.i18n reading from there."""
    folder = tmp_path / "locale"
    shutil.copytree(PO.parent.parent.parent, folder, ignore=shutil.ignore_patterns("*.mo"))
    monkeypatch.setattr(i18n, "LOCALE_DIR", folder)
    return folder / "ja" / "LC_MESSAGES"


def test_without_a_compiled_catalog_the_po_is_compiled_in_memory(locale_copy):
    assert not (locale_copy / "ssmlab.mo").exists()
    assert i18n.catalog("ja").gettext("trust policy") == "信頼ポリシー"


def test_a_stale_compiled_catalog_is_not_used(locale_copy):
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po = locale_copy / "ssmlab.po"
    with po.open("rb") as handle:
        messages = read_po(handle)
    messages["trust policy"].string = "古い訳"
    with (locale_copy / "ssmlab.mo").open("wb") as handle:
        write_mo(handle, messages)
    # The .mo now holds "古い訳"; it is used while newer than the .po...
    past = time.time() - 100
    os.utime(po, (past, past))
    assert i18n.catalog("ja").gettext("trust policy") == "古い訳"
    # ...and not once the .po was edited after it (the catalog then comes from the .po).
    os.utime(po, None)
    os.utime(locale_copy / "ssmlab.mo", (past, past))
    assert i18n.catalog("ja").gettext("trust policy") == "信頼ポリシー"


def test_make_compiles_the_catalogs():
    out = subprocess.run(["make", "-n", "-B", "ssmlab/locale/ja/LC_MESSAGES/ssmlab.mo"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert "pybabel compile" in out.stdout and "ssmlab.po" in out.stdout, out.stdout + out.stderr


def test_the_package_data_holds_the_catalogs():
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ssmlab"]
    assert "locale/*/LC_MESSAGES/*.po" in data and "locale/*/LC_MESSAGES/*.mo" in data


def test_progress_labels_follow_the_language(japanese, monkeypatch):
    from ssmlab import progress

    monkeypatch.setattr(progress, "MILESTONES", {})
    progress.register("made-up", "trust policy")  # a label the catalog holds
    assert progress.label("made-up") == "信頼ポリシー"
    assert progress.label("unknown-id") == "unknown-id"


def test_fleet_and_lesson_milestone_labels_follow_the_language(japanese):
    from ssmlab import fleet, milestones, progress  # noqa: F401 (they register their milestones)

    assert progress.label("fleet-node-03-fixed") == "フリート: node-03 を修正した"
    assert progress.label("lesson-06-online") == "06 · インスタンスが Online になった"



def test_the_workshop_and_fleet_commands_are_listed_in_japanese():
    env = dict(os.environ, SSMLAB_LANGUAGE="ja")
    out = subprocess.run([sys.executable, "-m", "ssmlab.cli", "--help"], env=env,
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert "自分のマイルストーン" in out.stdout and "フリートを直すラボ" in out.stdout, out.stdout + out.stderr
