"""pyproject.toml, environment.yml and binder/ must name the same dependencies."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _normalised(specs) -> dict[str, tuple]:
    out = {}
    for spec in specs:
        req = Requirement(spec)
        out[req.name.lower()] = (tuple(sorted(req.extras)), str(req.specifier))
    return out


def _pyproject() -> dict[str, tuple]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return _normalised(project["dependencies"] + project["optional-dependencies"]["test"])


def _conda_pip_list(path: Path) -> dict[str, tuple]:
    env = yaml.safe_load(path.read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, f"{path} needs exactly one pip: section"
    return _normalised(pip_lists[0])


def test_environment_yml_matches_pyproject():
    assert _conda_pip_list(ROOT / "environment.yml") == _pyproject()


def test_binder_environment_matches_pyproject():
    assert _conda_pip_list(ROOT / "binder" / "environment.yml") == _pyproject()


def test_binder_and_conda_use_the_same_python():
    def python(path):
        deps = yaml.safe_load(path.read_text())["dependencies"]
        return [d for d in deps if isinstance(d, str) and d.startswith("python")]

    assert python(ROOT / "environment.yml") == python(ROOT / "binder" / "environment.yml")


def test_binder_postbuild_installs_the_package():
    post_build = ROOT / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111, "binder/postBuild must be executable"
    assert "pip install --no-deps -e ." in post_build.read_text()


def test_the_services_the_journey_uses_are_moto_extras():
    extras, _ = _pyproject()["moto"]
    assert {"server", "iam", "ec2", "ssm", "sts", "cloudformation"} <= set(extras)
