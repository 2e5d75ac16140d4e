"""`ssmlab doctor`: one line per requirement, ok or the exact fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ssmlab import doctor


def test_doctor_passes_on_this_install():
    result = subprocess.run([str(Path(sys.executable).parent / "ssmlab"), "doctor"],
                            capture_output=True, text=True, timeout=300)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout
    for name in ("Python", "boto3", "moto", "awscli", "jupyterlab", "aws CLI",
                 "Jupyter kernel", "offline lab", "JupyterLab"):
        assert any(line.startswith(f"ok   {name}:") for line in lines), name
    assert lines[-1] == "All good: `make lab` opens the lessons."


def test_a_missing_package_says_the_fix():
    result = doctor.check_package("not-a-package-ssmlab-needs")
    assert not result.ok
    assert result.line() == ("FIX  not-a-package-ssmlab-needs: not installed: run `make lab` "
                             "(or `pip install -e .`) in the ssmlab folder")


def test_failures_are_counted(monkeypatch):
    monkeypatch.setattr(doctor, "checks", lambda: [
        lambda: doctor.Result("a", True, "fine"), lambda: doctor.Result("b", False, "do x")])
    lines: list[str] = []
    assert doctor.run_checks(lines.append) is False
    assert lines == ["ok   a: fine", "FIX  b: do x", "1 problem(s) above; each line says the fix."]


# ------------------------------------------------------------- `make lab` as root and not

CHECKOUT = Path(__file__).resolve().parent.parent


def make_lab_command(*make_args: str, user: str | None = None) -> str:
    """The `jupyter lab` line `make -n lab` would run (nothing is run)."""
    command = ["make", "-n", "-C", str(CHECKOUT), *make_args, "lab"]
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    lines = [line for line in result.stdout.splitlines() if "jupyter lab" in line]
    assert len(lines) == 1, result.stdout + result.stderr
    return lines[0]


def test_make_lab_adds_allow_root_only_for_root():
    assert make_lab_command("LAB_UID=0").endswith("jupyter lab --notebook-dir=notebooks --allow-root")
    assert make_lab_command("LAB_UID=1000").endswith("jupyter lab --notebook-dir=notebooks")
    # The Makefile and the doctor follow one rule.
    assert doctor.lab_arguments(0) == ["--notebook-dir=notebooks", "--allow-root"]
    assert doctor.lab_arguments(1000) == ["--notebook-dir=notebooks"]


def test_make_lab_asks_id_u_who_runs_it():
    """Without LAB_UID the Makefile asks `id -u`: root here gets --allow-root, nobody not."""
    import os
    import shutil

    as_me = make_lab_command()
    assert as_me.endswith("--allow-root") == (os.geteuid() == 0)
    if os.geteuid() == 0 and shutil.which("runuser"):
        assert make_lab_command(user="nobody").endswith("jupyter lab --notebook-dir=notebooks")


def test_make_doctor_checks_jupyterlab_with_make_labs_arguments():
    result = subprocess.run(["make", "-n", "-C", str(CHECKOUT), "LAB_UID=0", "doctor"],
                            capture_output=True, text=True, timeout=60)
    assert 'SSMLAB_LAB_ARGS="--notebook-dir=notebooks --allow-root"' in result.stdout


def test_jupyterlab_starts_with_make_labs_arguments_and_as_root_refuses_without_them():
    import os

    started = doctor.check_jupyterlab_starts(doctor.lab_arguments())
    assert started.ok, started.line()
    assert started.line().startswith("ok   JupyterLab: `make lab` starts it")
    if os.geteuid() == 0:  # what `make lab` printed as root before it added --allow-root
        refused = doctor.check_jupyterlab_starts(["--notebook-dir=notebooks"])
        assert refused.line() == (
            "FIX  JupyterLab: refused to run as root (Running as root is not recommended. Use "
            "--allow-root to bypass.): start it with `make lab`, which adds --allow-root for root")
