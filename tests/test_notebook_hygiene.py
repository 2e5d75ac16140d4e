"""Repository hygiene of the lessons: what their stored outputs and sources may hold.

Fails on: a traceback outside a cell meant to raise (tag ``raises-exception``); anything
shaped like an AWS access key id or secret key; a 12-digit account id other than the
offline lab's; a ``file://`` the lesson loads but never wrote (and the repository does not
hold); a kernelspec other than ``python3`` (the kernel the README's ``make`` sets up); a
lesson that breaks STYLE.md's conventions (first cell, headings).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from ssmlab.offline import ACCOUNT_ID

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
RAISES = "raises-exception"

ACCESS_KEY_ID = re.compile(r"(?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
# A secret access key is 40 characters of base64; to stay clear of hex digests and ids it
# must mix upper case, lower case and digits. A named secret with any value is caught too.
SECRET_SHAPE = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
NAMED_SECRET = re.compile(r"(SecretAccessKey|aws_secret_access_key)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{8,}", re.I)
ACCOUNT = re.compile(r"(?<![0-9A-Za-z])\d{12}(?![0-9A-Za-z])")
FILE_URL = re.compile(r"file://(\S+)")
TRACEBACK = "Traceback (most recent call last)"
WRITES = (
    re.compile(r"^%%writefile\s+(?:-a\s+)?(\S+)", re.M),
    re.compile(r"""Path\(\s*["']([^"']+)["']\s*\)\.write_(?:text|bytes)"""),
    re.compile(r"""open\(\s*["']([^"']+)["']\s*,\s*["'][wax]"""),
)


def _ids(paths):
    return [p.name for p in paths]


def output_text(output) -> str:
    """Every text an output holds, as stored in the notebook."""
    if output.output_type == "stream":
        return output.text
    if output.output_type == "error":
        return "\n".join([output.ename, output.evalue, *output.traceback])
    return "\n".join(v for v in output.get("data", {}).values() if isinstance(v, str))


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_there_are_lessons():
    assert LESSONS, f"no lessons in {NOTEBOOKS}"


@pytest.fixture(params=LESSONS, ids=_ids(LESSONS))
def notebook(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_kernel_is_python3(notebook):
    path, nb = notebook
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", path.name


def test_no_traceback_outside_cells_meant_to_raise(notebook):
    path, nb = notebook
    for index, cell in enumerate(code_cells(nb)):
        if RAISES in cell.metadata.get("tags", []):
            continue
        for output in cell.outputs:
            assert output.output_type != "error", f"{path.name} code cell {index}: {output.ename}"
            assert TRACEBACK not in output_text(output), f"{path.name} code cell {index} prints a traceback"


def test_cells_meant_to_raise_do_raise(notebook):
    path, nb = notebook
    for index, cell in enumerate(code_cells(nb)):
        if RAISES in cell.metadata.get("tags", []):
            errors = [o for o in cell.outputs if o.output_type == "error"]
            assert errors, f"{path.name} code cell {index} is tagged {RAISES} but raised nothing"


def _secret_like(text: str, *, code: bool = False) -> list[str]:
    """Key-shaped strings in ``text``; in ``code``, ``secret_key=variable`` is fine."""
    found = [m.group(0) for m in ACCESS_KEY_ID.finditer(text)]
    if not code:
        found += [m.group(0) for m in NAMED_SECRET.finditer(text)]
    for match in SECRET_SHAPE.finditer(text):
        value = match.group(0)
        mixed = re.search(r"[A-Z]", value) and re.search(r"[a-z]", value) and re.search(r"\d", value)
        # Random base64 has about six digits in 40 characters, or a / or +; an identifier
        # such as AmazonSSMManagedEC2InstanceDefaultPolicy is words and few digits.
        random_looking = len(re.findall(r"\d", value)) >= 3 or re.search(r"[/+]", value)
        if mixed and random_looking:
            found.append(value)
    return found


def test_no_credentials_in_outputs_or_sources(notebook):
    path, nb = notebook
    for index, cell in enumerate(nb.cells):
        found = _secret_like(cell.source, code=cell.cell_type == "code")
        for output in cell.get("outputs", []):
            found += _secret_like(output_text(output))
        assert not found, f"{path.name} cell {index}: {found}"


def test_no_account_id_but_the_offline_labs(notebook):
    path, nb = notebook
    for index, cell in enumerate(nb.cells):
        texts = [cell.source] + [output_text(o) for o in cell.get("outputs", [])]
        for text in texts:
            others = sorted({m.group(0) for m in ACCOUNT.finditer(text)} - {ACCOUNT_ID})
            assert not others, f"{path.name} cell {index} names account(s) {others}"


def test_every_file_a_lesson_loads_exists(notebook):
    path, nb = notebook
    written: set[str] = set()
    for index, cell in enumerate(code_cells(nb)):
        for url in FILE_URL.findall(cell.source):
            name = url.strip("\"'")
            assert "{" not in name, f"{path.name} code cell {index}: write file:// names literally, not {name}"
            assert name in written or (NOTEBOOKS / name).is_file(), (
                f"{path.name} code cell {index} loads file://{name}, which no earlier cell writes"
            )
        for pattern in WRITES:
            written.update(pattern.findall(cell.source))


def test_lesson_follows_the_conventions(notebook):
    """STYLE.md: first code cell starts the lab for this lesson; objectives and recap."""
    path, nb = notebook
    number = int(path.name[:2])
    first = code_cells(nb)[0].source
    assert "import ssmlab" in first and f"lab = ssmlab.start(lesson={number})" in first, path.name
    headings = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert re.search(r"^#+ .*Recap", headings, re.M), f"{path.name} has no Recap heading"
    if number > 0:
        assert "Objectives" in headings, f"{path.name} states no objectives"
        assert "Exercise" in headings, f"{path.name} has no exercise"


SHELL_LINE = re.compile(r"^\s*!", re.M)


def non_ascii_shell_outputs(nb) -> list[str]:
    """Lines a shell command (``!...``) printed that are not ASCII.

    IPython runs ``!`` commands on a pseudo-terminal and decodes what it reads chunk by
    chunk, so a multi-byte character split across two reads becomes U+FFFD, now and then:
    such an output cannot be compared run to run. The terminal ends every line it passes
    with CR LF, which tells them from what Python printed in the same cell. Non-ASCII text
    comes from Python instead (``lab.diagnose`` prints its box table in the kernel).
    """
    found = []
    for index, cell in enumerate(code_cells(nb)):
        if not SHELL_LINE.search(cell.source):
            continue
        for output in cell.get("outputs", []):
            for line in output_text(output).split("\n"):
                if line.endswith("\r") and not line.isascii():
                    found.append(f"code cell {index}: {next(c for c in line if not c.isascii())!r}")
    return found


def test_shell_cells_print_only_ascii(notebook):
    _, nb = notebook
    assert non_ascii_shell_outputs(nb) == []


def test_the_checks_catch_what_they_should():
    """The detectors themselves, on made-up values."""
    assert _secret_like("AccessKeyId: ASIA" + "Q" * 16)
    assert _secret_like('"SecretAccessKey": "abc"') == [] and _secret_like('"SecretAccessKey": "abcdefgh12"')
    assert _secret_like("aws_secret_access_key = abcdefgh12")
    assert not _secret_like('aws_secret_access_key=credentials["SecretAccessKey"]', code=True)
    assert not _secret_like("['AccessKeyId', 'Expiration', 'SecretAccessKey', 'SessionToken']")
    assert _secret_like("wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY")
    assert not _secret_like("da39a3ee5e6b4b0d3255bfef95601890afd80709")  # a SHA-1 digest
    assert not _secret_like("AmazonSSMManagedEC2InstanceDefaultPolicy")  # 40 characters, a name
    assert ACCOUNT.findall("arn:aws:iam::210987654321:root") == ["210987654321"]
    assert not ACCOUNT.findall("i-0123456789012abcd")
    shell_cell = nbformat.v4.new_code_cell("!ssmlab diagnose i-0")
    shell_cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="✓ printed by Python\n┌──\ufffd─┐\r\n")]
    python_cell = nbformat.v4.new_code_cell("lab.diagnose('i-0')")
    python_cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="┌───┐\n")]
    made_up = nbformat.v4.new_notebook(cells=[shell_cell, python_cell])
    assert non_ascii_shell_outputs(made_up) == ["code cell 0: '┌'"]
