"""workshop/: the hub's configuration as JupyterHub loads it, and the Helm values kept in
step with it and with the measured room (tests/test_hub.py runs the hub itself)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "workshop" / "jupyterhub_config.py"
VALUES = ROOT / "workshop" / "helm" / "values.yaml"

LOAD = """
import json, sys
from traitlets.config import Config, PyFileConfigLoader
loader = PyFileConfigLoader(sys.argv[1])
c = loader.load_config()
print(json.dumps({
    "authenticator": c.JupyterHub.authenticator_class,
    "spawner": c.JupyterHub.spawner_class,
    "homes": c.SimpleLocalProcessSpawner.home_dir_template,
    "admins": sorted(c.Authenticator.admin_users),
    "services": [s["name"] for s in c.JupyterHub.services],
    "board_env": c.Spawner.environment["SSMLAB_BOARD_URL"],
    "bind": c.JupyterHub.bind_url,
}))
"""


def _load(tmp_path, **env):
    base = {"PATH": "/usr/bin:/bin", "SSMLAB_HUB_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-c", LOAD, str(CONFIG)], env={**base, **env},
                          capture_output=True, text=True, timeout=60)


def test_the_config_loads_as_jupyterhub_reads_it(tmp_path):
    import json

    result = _load(tmp_path, SSMLAB_HUB_PASSWORD="room-pass-1", SSMLAB_BOARD_PORT="9999")
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["authenticator"] == "shared-password" and loaded["spawner"] == "simple"
    assert loaded["homes"] == str(tmp_path / "home" / "{username}")
    assert loaded["admins"] == ["facilitator"]
    assert loaded["services"] == ["idle-culler", "board"]  # no admin token unless one is given
    assert loaded["board_env"] == "http://127.0.0.1:9999/services/board/"
    assert loaded["bind"] == "http://127.0.0.1:8000"  # loopback unless told otherwise


def test_without_a_room_password_the_config_says_so_in_one_sentence(tmp_path):
    result = _load(tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().startswith("SSMLAB_HUB_PASSWORD is not set:"), result.stderr


def _bytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)([KMG]i?)?", quantity).groups()
    return float(number) * {None: 1, "K": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}[unit]


def test_the_helm_values_follow_the_measured_room():
    values = yaml.safe_load(VALUES.read_text())
    readme = (ROOT / "README.md").read_text()
    # The README's measured figures: resident MiB per attendee with lesson 06 open.
    measured = re.search(r"\*\*(\d+) MiB resident per attendee\*\*", readme)
    assert measured, "README's Workshops section states the memory per attendee"
    per_attendee = int(measured.group(1)) * 2**20
    memory = values["singleuser"]["memory"]
    assert per_attendee < _bytes(memory["guarantee"]) < 1.5 * per_attendee
    assert _bytes(memory["limit"]) >= 2 * per_attendee
    assert values["cull"]["enabled"] is True
    board = values["hub"]["extraContainers"][0]
    image = values["singleuser"]["image"]
    assert board["image"] == f"{image['name']}:{image['tag']}", "the board runs the attendees' image"
    assert values["singleuser"]["extraEnv"]["SSMLAB_BOARD_URL"].startswith(values["hub"]["services"]["board"]["url"])
