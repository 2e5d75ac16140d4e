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
                 "Jupyter kernel", "offline lab"):
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
