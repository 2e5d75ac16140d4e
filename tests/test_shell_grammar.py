"""The instance shell and bash's grammar where bashlex 0.18 reads it otherwise.

bash itself is the judge: what it prints for ANSI-C quoting is compared with what the
simulated shell prints, and a script bash reads (``bash -n``) is never answered with a
syntax error it does not have. docs/aws-facts.md#bash-grammar.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ssmlab.simulation.instance_shell import NOT_SIMULATED, ansi_c, bash_reads
from test_instance_shell import instance, run  # noqa: F401 (the fixture)

BASH = shutil.which("bash")  # the reference: every Linux the lab runs on has it


def real_bash(script: str) -> str:
    return subprocess.run([BASH, "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}, timeout=10).stdout


@pytest.mark.parametrize("script", [
    r"echo $'a\tb'",
    r"printf '%s|' $'x\x41y' $'\u00e9' $'it\'s' $'back\\slash' $'\101\102'",
    r"V=$'one\ntwo'; echo \"$V\"",
    r"echo pre$'\t'post \"in $'quotes'\"",
    r"echo $'\q unknown' $'\x' end",
])
def test_ansi_c_quoting_prints_what_bash_prints(lab, instance, script):  # noqa: F811
    result = run(lab, instance, script)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == real_bash(script)


@given(st.text(alphabet="abt\\x41u0e9'\"n ", max_size=12))
def test_ansi_c_decoding_matches_bash(inside):
    """Any $'…' inside that closes: the pure decoder gives bash's bytes."""
    text, after = ansi_c(inside + "'", 0, len(inside) + 1)
    if after is None or after != len(inside) + 1:
        return  # a quote inside ended it early: not this property's case
    expected = real_bash("printf '%s' $'" + inside + "'")
    assert text == expected


@pytest.mark.parametrize("script", ["[[ -n x ]] && echo y", "x=(a b); echo ${x[1]}", "echo $((1 + 2))"])
def test_what_bash_reads_is_never_called_a_syntax_error(lab, instance, script):  # noqa: F811
    assert bash_reads(script)
    result = run(lab, instance, script)
    assert result.exit_code == NOT_SIMULATED
    assert "syntax error" not in result.stderr and result.stderr.startswith("ssmlab: ")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("script, construct", [
    ("case x in x) echo yes;; *) echo no;; esac", "`case … esac`"),
    ("select x in a; do echo; done", "`select … do … done`"),
])
def test_a_construct_bashlex_lacks_is_named_as_written(lab, instance, script, construct):  # noqa: F811
    result = run(lab, instance, script)
    assert result.exit_code == NOT_SIMULATED
    assert result.stderr.startswith(f"ssmlab: bash's {construct} exists on the instance but is not simulated")
    assert "type = {" not in result.stderr and "token = {" not in result.stderr


@pytest.mark.parametrize("script", ["echo )", "if true; then echo", "done"])
def test_a_real_syntax_error_is_still_bashs(lab, instance, script):  # noqa: F811
    assert not bash_reads(script)
    result = run(lab, instance, script)
    assert result.exit_code == 2 and "syntax error" in result.stderr


def test_bash_dash_n_runs_nothing(tmp_path):
    """The judge only reads: a script that would write a file writes none."""
    target = tmp_path / "written"
    assert bash_reads(f"echo hi > {target}; touch {target}")
    assert not target.exists()
