"""`ssmlab fleet new|grade|answers|hint|show` against a real `ssmlab serve` process: every
command is its own process, so the fleet's state must come from the endpoint alone."""

from __future__ import annotations

import json
import subprocess

from test_serve import BIN, served  # noqa: F401 - the fixture: a serve process on a free port


def fleet(env, *args, stdin=None):
    return subprocess.run([str(BIN / "ssmlab"), "fleet", *args], env=env, capture_output=True, text=True,
                          timeout=300, input=stdin)


def test_new_grade_answers_against_serve(served, tmp_path):  # noqa: F811
    _, env, _, _ = served
    env = {**env, "SSMLAB_PROGRESS": str(tmp_path / "progress.json")}

    graded = fleet(env, "grade")
    assert graded.returncode == 2 and graded.stderr.startswith("ssmlab: There is no fleet in us-east-1 yet")

    body = fleet(env, "template", "--seed", "11")
    assert body.returncode == 0 and "AWS::EC2::Instance" in json.loads(body.stdout)["Resources"]["Node01Instance"]["Type"]

    built = fleet(env, "new", "--seed", "11")
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith("Fleet of seed 11: 8 instances")
    members = [line.split()[0] for line in built.stdout.splitlines()[1:9]]
    assert members == [f"node-0{n}" for n in range(1, 9)]

    graded = fleet(env, "grade")
    assert graded.returncode == 1
    lines = graded.stdout.splitlines()
    assert len(lines) == 9 and all(line.startswith("FAIL  node-0") for line in lines[:8])
    assert lines[8] == "0 of 8 fixed acceptably."

    shown = fleet(env, "show", "--causes")
    assert shown.returncode == 0 and len(shown.stdout.split("\n")[1].split()) == 3
    first, second = fleet(env, "hint", "node-01"), fleet(env, "hint", "node-01", "--level", "2")
    assert first.returncode == second.returncode == 0 and first.stdout != second.stdout

    again = fleet(env, "new", "--seed", "11")
    assert again.returncode == 2 and "already has a fleet" in again.stderr

    key = fleet(env, "answers")
    assert key.returncode == 0 and key.stdout.startswith("#!/usr/bin/env bash")
    script = tmp_path / "answers.sh"
    script.write_text(key.stdout)
    ran = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr

    graded = fleet(env, "grade")
    assert graded.returncode == 0, graded.stdout
    assert graded.stdout.splitlines()[-1] == "8 of 8 fixed acceptably."


def test_no_endpoint_is_one_sentence(tmp_path):
    result = fleet({"PATH": str(BIN), "HOME": str(tmp_path)}, "grade")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "ssmlab serve" in result.stderr
