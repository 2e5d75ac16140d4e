"""Shared fixtures: one offline lab endpoint per test session, reset before each test."""

from __future__ import annotations

import os
import subprocess
import tempfile

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run (hypothesis's derandomize), so a run
# on CI is the run on your machine: a new example is a change to the tests, not luck.
settings.register_profile("ssmlab", derandomize=True, database=None)
settings.load_profile("ssmlab")

# Milestones that tests and the lessons under nbval reach go to a file of this run, never
# to the home of whoever runs the tests (kernels started by the tests inherit it).
os.environ["SSMLAB_PROGRESS"] = os.path.join(tempfile.mkdtemp(prefix="ssmlab-progress-"), "progress.json")

import ssmlab  # noqa: E402


@pytest.fixture(scope="session")
def _offline_lab():
    lab = ssmlab.start(quiet=True)
    yield lab
    ssmlab.stop()


@pytest.fixture
def lab(_offline_lab):
    """A fresh offline lab (moto server in this process, simulation installed, seeded).

    ``lab.client("iam")`` gives a boto3 client on the lab endpoint; ``lab.env`` is the
    environment a subprocess (the real ``aws`` CLI) needs to talk to the same endpoint.
    """
    return ssmlab.start(quiet=True)


@pytest.fixture
def aws(lab):
    """Run the real ``aws`` CLI against the lab: ``aws("iam", "list-roles")``."""

    def run(*args: str, check: bool = False) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["aws", *args], env=lab.env, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {result.stderr}")
        return result

    return run
