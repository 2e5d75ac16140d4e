"""``ssmlab scrub``: account ids, ARNs' account parts and key-shaped strings leave stored
outputs; the example account, AWS's own ARNs and ordinary ids stay."""

from __future__ import annotations

import nbformat
import pytest

from ssmlab import cli
from ssmlab.scrub import mask_text, scrub_notebook

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documentation example
TOKEN = "IQoJb3JpZ2luX2VjEJr" + "x" * 300 + "=="


@pytest.mark.parametrize("text, expected", [
    ("Account: 210987654321", "Account: ********4321"),
    ("arn:aws:iam::210987654321:role/ssmlab-ada-role-for-ec2", "arn:aws:iam::********4321:role/ssmlab-ada-role-for-ec2"),
    ("arn:aws:sts::210987654321:assumed-role/r/i-0abc", "arn:aws:sts::********4321:assumed-role/r/i-0abc"),
    ('"OwnerId": "210987654321"', '"OwnerId": "********4321"'),
    ("AKIAIOSFODNN7EXAMPLE and ASIAIOSFODNN7EXAMPLE", "AKIA**************** and ASIA****************"),
    # IAM unique ids are 21 characters (user, role, instance profile, managed policy).
    ("UserId: AIDACKCEVSQ6C2EXAMPLE", "UserId: AIDA*****************"),
    ('"RoleId": "AROADBQP57FF2AEXAMPLE"', '"RoleId": "AROA*****************"'),
    ("AIPAJ2NRC5BKEXAMPLE01 ANPAJ2UCCR6DPCEXAMPLE", "AIPA***************** ANPA*****************"),
    ("AROADBQP57FF2AEXAMPLE:i-0abc", "AROA*****************:i-0abc"),
    # Right after a terminal colour code (IPython's tracebacks).
    ("\x1b[0;31m210987654321\x1b[0m", "\x1b[0;31m********4321\x1b[0m"),
    ("\x1b[1;32mAKIAIOSFODNN7EXAMPLE", "\x1b[1;32mAKIA****************"),
    (f"aws_secret_access_key={SECRET}", "aws_secret_access_key=" + "*" * 40),
    (f"aws_secret_access_key = {SECRET}", "aws_secret_access_key = " + "*" * 40),
    (f"SessionToken: {TOKEN}", "SessionToken: ****(session token)****"),
])
def test_masks(text, expected):
    assert mask_text(text) == expected
    assert mask_text(expected) == expected  # masking twice changes nothing


@pytest.mark.parametrize("text", [
    "arn:aws:iam::123456789012:role/role-for-ec2",  # the example account
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",  # AWS's own
    "i-0123456789abcdef0 ami-087fc0fcee2c7570a vpc-9aea65acec3d08aed",
    "1700000000000",  # 13 digits: a timestamp in ms
    "da39a3ee5e6b4b0d3255bfef95601890afd80709",  # a hex digest, 40 characters
    "AmazonSSMManagedInstanceCoreAmazonSSMManagedInstanceCoreX",
])
def test_leaves_alone(text):
    assert mask_text(text) == text


def notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("!aws sts get-caller-identity", outputs=[
            nbformat.v4.new_output("stream", name="stdout",
                                   text='{"Account": "210987654321", "Arn": "arn:aws:iam::210987654321:user/ada"}\n'),
        ]),
        nbformat.v4.new_code_cell("session.get_credentials()", outputs=[
            nbformat.v4.new_output("execute_result", execution_count=2, data={
                "text/plain": f"('AKIAIOSFODNN7EXAMPLE', '{SECRET}')",
                "application/json": {"Account": "210987654321", "Key": "AKIAIOSFODNN7EXAMPLE"},
            }),
        ]),
        nbformat.v4.new_code_cell("raise", outputs=[
            nbformat.v4.new_output("error", ename="ClientError", evalue="arn:aws:iam::210987654321:role/x",
                                   traceback=["User: arn:aws:sts::210987654321:assumed-role/x/y"]),
        ]),
        nbformat.v4.new_code_cell("ACCOUNT = '210987654321'"),
        nbformat.v4.new_markdown_cell("Account 123456789012 is the example."),
    ]
    path = tmp_path / "run-on-my-account.ipynb"
    nbformat.write(nb, path)
    return path


def test_scrubs_stored_outputs_not_sources(tmp_path):
    path = notebook(tmp_path)
    result = scrub_notebook(path)
    assert result.masked == 6 and result.sources == [3]
    text = path.read_text()
    for secret in ("210987654321", "AKIAIOSFODNN7EXAMPLE", SECRET):
        assert text.count(secret) == (1 if secret == "210987654321" else 0)  # only the source
    assert "ACCOUNT = '210987654321'" in text and "123456789012" in text
    nbformat.validate(nbformat.read(path, as_version=4))
    assert scrub_notebook(path).masked == 0  # idempotent


def test_the_command_line(tmp_path, capsys):
    path = notebook(tmp_path)
    assert cli.main(["scrub", str(path)]) == 0
    assert capsys.readouterr().out == (
        f"{path}: masked 6 value(s); the source of cell(s) 3 holds an account id or a key: "
        f"edit it before sharing\n")
    bad = tmp_path / "not-a-notebook.ipynb"
    bad.write_text("{")
    assert cli.main(["scrub", str(bad)]) == 2
    assert capsys.readouterr().err == (
        f"ssmlab: {bad} is not a Jupyter notebook (not JSON text): scrub takes .ipynb files saved by Jupyter.\n")


# ------------------------------------------------------------------ every place, any shape

import base64  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

ACCOUNT = "210987654321"
#: One value of every shape scrub must mask (docs/aws-facts.md#robust-iam-identifiers).
LEAKS = [
    ACCOUNT,
    "AKIAIOSFODNN7EXAMPLE", "ASIAIOSFODNN7EXAMPLE",  # access key ids: 20 characters
    "AIDACKCEVSQ6C2EXAMPLE", "AROADBQP57FF2AEXAMPLE", "AIPAJ2NRC5BKEXAMPLE01",
    "ANPAJ2UCCR6DPCEXAMPLE", "AGPAJ2UCCR6DPCEXAMPLE",  # unique ids: 21 characters
    SECRET,
]
#: A PNG (1x1) whose base64 holds what looks like ids once decoded is irrelevant: the
#: base64 text itself is what must come out byte-identical.
PNG = base64.b64encode(bytes(range(256)) * 3 + ACCOUNT.encode() + b"AKIAIOSFODNN7EXAMPLE").decode()
PDF = base64.b64encode(b"%PDF-1.4 " + SECRET.encode() * 4).decode()


def wrapped(leak: str, how: int) -> str:
    return [
        leak,
        f"Account: {leak}",
        f"arn:aws:iam::{leak}:role/x" if leak == ACCOUNT else f"key={leak}",
        f"\x1b[0;31m{leak}\x1b[0m",
        f'"{leak}"',
        f"line one\n{leak}\nline three",
    ][how % 6]


@st.composite
def leaky_notebooks(draw):
    """A v4 notebook with leaks in random places, and the binary data it holds."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    leaks = draw(st.lists(st.sampled_from(LEAKS), min_size=1, max_size=8))
    places = []

    def text(leak):
        return wrapped(leak, rng.randrange(6))

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("print(1)", outputs=[
            nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
            nbformat.v4.new_output("display_data", data={"application/pdf": PDF}),
        ]),
        nbformat.v4.new_markdown_cell("![x](attachment:x.png)", attachments={"x.png": {"image/png": PNG}}),
        nbformat.v4.new_code_cell("x"),
    ]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "version_major": 2, "version_minor": 0, "state": {"abc": {
            "model_name": "ImageModel", "state": {"value": {}},
            "buffers": [{"path": ["value"], "encoding": "base64", "data": PNG}]}}}}
    for leak in leaks:
        place = rng.randrange(11)
        places.append(place)
        cell = nb.cells[2]
        if place == 0:
            cell.outputs.append(nbformat.v4.new_output("stream", name=rng.choice(["stdout", "stderr"]), text=text(leak)))
        elif place == 1:
            cell.outputs.append(nbformat.v4.new_output("execute_result", execution_count=1, data={
                "text/plain": text(leak), "text/html": f"<td>{text(leak)}</td>"}))
        elif place == 2:
            cell.outputs.append(nbformat.v4.new_output("display_data", data={
                "application/json": {"Account": int(leak) if leak.isdigit() else leak, "n": [1, {"k": leak}]}}))
        elif place == 3:
            cell.outputs.append(nbformat.v4.new_output("error", ename="ClientError", evalue=text(leak),
                                                       traceback=[text(leak), "\x1b[0;31m" + leak]))
        elif place == 4:
            cell.metadata[rng.choice(["tags", "note"])] = [text(leak)]
        elif place == 5:
            nb.metadata["ssmlab"] = {"caller": text(leak), "account": int(leak) if leak.isdigit() else leak}
        elif place == 6:
            nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]["m" + str(rng.random())] = {
                "model_name": "HTMLModel", "state": {"value": text(leak), "description": leak}}
        elif place == 7:
            nb.cells[1].attachments["note.txt"] = {"text/plain": text(leak)}
        elif place == 8:
            cell.outputs.append(nbformat.v4.new_output("display_data", data={
                "image/svg+xml": f"<svg><text>{text(leak)}</text></svg>"}, metadata={"account": leak}))
        elif place == 9:
            cell.outputs.append(nbformat.v4.new_output("display_data", data={
                "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2,
                                                             "text": text(leak)}}))
        else:
            cell.outputs.append(nbformat.v4.new_output("execute_result", execution_count=2, data={
                "text/markdown": text(leak)}, metadata={"n": int(leak) if leak.isdigit() else 0}))
    return nb, leaks


def binary_values(nb: dict) -> list[str]:
    found = []

    def walk(value, mime=None):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, key if isinstance(key, str) and "/" in key else mime)
        elif isinstance(value, list):
            for item in value:
                walk(item, mime)
        elif isinstance(value, str) and value in (PNG, PDF):
            found.append(value)

    walk(nb)
    return found


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(leaky_notebooks())
def test_generated_notebooks_come_out_clean_and_images_identical(tmp_path, case):
    nb, leaks = case
    path = tmp_path / "generated.ipynb"
    nbformat.write(nb, path)
    before = json.loads(path.read_text())
    assert scrub_notebook(path, write=False).masked > 0
    assert json.loads(path.read_text()) == before  # write=False changed nothing
    scrub_notebook(path)
    after_text = path.read_text()
    for leak in leaks:
        assert leak not in after_text.replace(PNG, "").replace(PDF, "")
    after = json.loads(after_text)
    # Binary data: the very same base64 strings, in the same places.
    assert binary_values(after) == binary_values(before) == [PNG, PDF, PNG, PNG]
    assert after["cells"][0]["outputs"][0]["data"]["image/png"] == PNG
    assert after["cells"][1]["attachments"]["x.png"]["image/png"] == PNG
    nbformat.validate(nbformat.read(path, as_version=4))
    assert scrub_notebook(path).masked == 0  # idempotent


def test_a_notebook_with_nothing_to_mask_is_not_rewritten(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output(
        "display_data", data={"image/png": PNG, "text/plain": "arn:aws:iam::123456789012:role/r"})])]
    path = tmp_path / "clean.ipynb"
    path.write_text(json.dumps(nb, indent=4))  # not nbformat's own layout
    raw = path.read_bytes()
    assert scrub_notebook(path).masked == 0
    assert path.read_bytes() == raw


@pytest.mark.parametrize("content, sentence", [
    ("[]", "is JSON but not a Jupyter notebook (it has no nbformat)"),
    ("{}", "is JSON but not a Jupyter notebook (it has no nbformat)"),
    ('"text"', "is JSON but not a Jupyter notebook (it has no nbformat)"),
    ('{"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "metadata": {}}',
     "is a notebook of format 3, not 4: open and save it in JupyterLab"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "is not a valid notebook"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [1]}', "is not a valid notebook"),
    ("\udcff", "is not a Jupyter notebook (not JSON text)"),
    ("# a Python file\nprint(1)\n", "is not a Jupyter notebook (not JSON text)"),
])
def test_what_is_not_a_notebook_is_refused_in_one_sentence(tmp_path, capsys, content, sentence):
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    raw = path.read_bytes()
    assert cli.main(["scrub", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ssmlab: {path} {sentence}") and err.count("\n") == 1 and "Traceback" not in err
    assert path.read_bytes() == raw


def test_a_missing_file_or_a_folder_is_one_sentence(tmp_path, capsys):
    assert cli.main(["scrub", str(tmp_path / "nope.ipynb")]) == 2
    assert capsys.readouterr().err == f"ssmlab: {tmp_path / 'nope.ipynb'} does not exist: check the file name.\n"
    assert cli.main(["scrub", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"ssmlab: {tmp_path} is a folder, not a notebook: name .ipynb files.\n"


def test_one_bad_file_writes_none(tmp_path, capsys):
    good = notebook(tmp_path)
    raw = good.read_bytes()
    bad = tmp_path / "bad.ipynb"
    bad.write_text("[]")
    assert cli.main(["scrub", str(good), str(bad)]) == 2
    assert good.read_bytes() == raw


def test_check_changes_nothing_and_fails_when_a_notebook_would_change(tmp_path, capsys):
    path = notebook(tmp_path)
    raw = path.read_bytes()
    assert cli.main(["scrub", "--check", str(path)]) == 1
    assert capsys.readouterr().out.startswith(f"{path}: would mask 6 value(s)")
    assert path.read_bytes() == raw
    assert cli.main(["scrub", str(path)]) == 0
    capsys.readouterr()
    # Outputs are clean now; the source of cell 3 still holds the id: still not shareable.
    assert cli.main(["scrub", "--check", str(path)]) == 1
    nb = nbformat.read(path, as_version=4)
    nb.cells[3].source = "ACCOUNT = lab.account_id"
    nbformat.write(nb, path)
    assert cli.main(["scrub", "--check", str(path)]) == 0
    assert capsys.readouterr().out.endswith(f"{path}: nothing to mask\n")



def test_the_installed_command_checks_and_scrubs(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    ssmlab_command = str(Path(sys.executable).parent / "ssmlab")
    path = notebook(tmp_path)
    raw = path.read_bytes()
    check = subprocess.run([ssmlab_command, "scrub", "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 1 and path.read_bytes() == raw
    assert check.stdout.startswith(f"{path}: would mask 6 value(s)")
    done = subprocess.run([ssmlab_command, "scrub", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "210987654321" not in json.dumps(nbformat.read(path, as_version=4).cells[0].outputs)
    refused = subprocess.run([ssmlab_command, "scrub", str(tmp_path / "x.ipynb")], capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
