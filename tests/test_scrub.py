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
    ("AKIAIOSFODNN7EXAMPLE and ASIAIOSFODNN7EXAMPLE", "AKIA**************** and AKIA****************"),
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
        f"{path}: masked 6 output value(s); the source of cell(s) 3 holds an account id or a key: "
        f"edit it before sharing\n")
    bad = tmp_path / "not-a-notebook.ipynb"
    bad.write_text("{")
    assert cli.main(["scrub", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"ssmlab: {bad} could not be read as a notebook")
