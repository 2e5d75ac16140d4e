"""JupyterHub for a workshop room on one machine: `make workshop`, or
`jupyterhub -f workshop/jupyterhub_config.py` with the variables below.

Each attendee logs in with a name of their choice and the room's password, and gets a
single-user Jupyter server of their own, started in a home of their own where the lessons
are copied on first start. Every notebook kernel starts its own offline lab (moto on a
loopback port of that kernel's own), so attendees share nothing but the machine.

The spawner is JupyterHub's SimpleLocalProcessSpawner: every attendee's server runs as the
hub's own Unix user, in ``$SSMLAB_HUB_DIR/home/<name>``. It needs no system accounts and no
root, which suits a room of laptops' browsers on one trusted machine and a dry run; its
cost is that attendees' processes are not isolated by the operating system (a JupyterLab
terminal can read another home). Where that matters, use the Helm chart
(``workshop/helm/values.yaml``: a pod per attendee) or LocalProcessSpawner with a system
user per attendee. The lab itself never mixes attendees: each kernel's lab is its own.

Settings, from the environment (only the password is required):

  SSMLAB_HUB_PASSWORD        the room's password, 8 characters or more (JupyterHub's rule)
  SSMLAB_HUB_ADMIN_PASSWORD  the facilitator's password, 32 characters or more; without it
                             nobody can log in as the facilitator (the board needs one)
  SSMLAB_HUB_ADMIN           the facilitator's login name (default: facilitator)
  SSMLAB_HUB_IP, SSMLAB_HUB_PORT   where the room connects (default 127.0.0.1:8000)
  SSMLAB_HUB_API_PORT        the hub's internal API port (default 8081)
  SSMLAB_HUB_PROXY_API_PORT  configurable-http-proxy's API port (default 8001)
  SSMLAB_BOARD_PORT          the progress board's port (default 8790)
  SSMLAB_HUB_DIR             the hub's state: database, cookie secret, homes (default .workshop/)
  SSMLAB_HUB_API_TOKEN       a token for scripts (and the tests) to create attendees and
                             start their servers through the REST API (optional)
  SSMLAB_HUB_CULL_TIMEOUT    seconds of inactivity before a server is stopped (default 3600)
"""

import os
import shutil
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (JupyterHub's config loader defines it)

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "notebooks"
BIN = Path(sys.executable).parent  # the venv JupyterHub runs from: the lessons' environment
STATE = Path(os.environ.get("SSMLAB_HUB_DIR") or ROOT / ".workshop").resolve()
STATE.mkdir(parents=True, exist_ok=True)
HOMES = STATE / "home"


def _port(name, default):
    return int(os.environ.get(name) or default)


# --- Where it listens: the room's URL; the hub's and the proxy's APIs on loopback only.
c.JupyterHub.bind_url = (
    f"http://{os.environ.get('SSMLAB_HUB_IP') or '127.0.0.1'}:{_port('SSMLAB_HUB_PORT', 8000)}"
)
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{_port('SSMLAB_HUB_API_PORT', 8081)}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{_port('SSMLAB_HUB_PROXY_API_PORT', 8001)}"
# configurable-http-proxy from npm: `make workshop` installs it under .workshop/.
_chp = ROOT / ".workshop" / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [str(_chp) if _chp.exists() else "configurable-http-proxy"]
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")

# --- The room's login: one shared password, names free (JupyterHub refuses "/" and dots).
c.JupyterHub.authenticator_class = "shared-password"
if not os.environ.get("SSMLAB_HUB_PASSWORD"):
    sys.exit("SSMLAB_HUB_PASSWORD is not set: export the room's password (8 characters or more), "
             "or run `make workshop`, which makes one up for a dry run.")
c.SharedPasswordAuthenticator.user_password = os.environ["SSMLAB_HUB_PASSWORD"]
if os.environ.get("SSMLAB_HUB_ADMIN_PASSWORD"):
    c.SharedPasswordAuthenticator.admin_password = os.environ["SSMLAB_HUB_ADMIN_PASSWORD"]
FACILITATOR = os.environ.get("SSMLAB_HUB_ADMIN") or "facilitator"
c.Authenticator.admin_users = {FACILITATOR}
c.Authenticator.allow_all = True  # anyone with the room's password, under any name

# --- One server per attendee, in a home of their own, the lessons copied on first start.
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = str(HOMES / "{username}")
c.Spawner.cmd = [str(BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab/tree/notebooks/00-welcome.ipynb"
# Jupyter servers refuse root ("Running as root is not recommended"), which containers and
# CI often are: --allow-root only then (the Makefile's `make lab` has the same rule).
# Kernels on one machine pick loopback ports: when many start at once, two servers can hand
# out the same free port, and the losing kernel dies with "Address already in use". With
# jupyter_client's port cache (cache_ports, on for TCP) its restarts reuse that very port
# and fail five times; without it, the first restart takes new ports and the kernel comes up.
c.Spawner.args = ["--KernelManager.cache_ports=False"] + (["--allow-root"] if os.geteuid() == 0 else [])
c.Spawner.environment = {
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    # Where ssmlab.progress.report() sends an attendee's milestones (opt-in).
    "SSMLAB_BOARD_URL": f"http://127.0.0.1:{_port('SSMLAB_BOARD_PORT', 8790)}/services/board/",
}
# A room starts many servers at once on few cores: give each time to come up.
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180


def copy_lessons(spawner):
    """The lessons, copied into the attendee's home the first time their server starts."""
    home = Path(spawner.home_dir)
    target = home / "notebooks"
    if not target.exists():
        home.mkdir(parents=True, exist_ok=True)
        shutil.copytree(LESSONS, target, ignore=shutil.ignore_patterns("*.json", "*.yaml", ".ipynb_checkpoints"))


c.Spawner.pre_spawn_hook = copy_lessons

# --- Services: the idle culler, the facilitator's progress board, and a token for scripts.
services = [
    {
        "name": "idle-culler",
        "command": [
            sys.executable, "-m", "jupyterhub_idle_culler",
            f"--timeout={_port('SSMLAB_HUB_CULL_TIMEOUT', 3600)}",
        ],
    },
    {
        "name": "board",
        "url": f"http://127.0.0.1:{_port('SSMLAB_BOARD_PORT', 8790)}",
        "command": [str(BIN / "ssmlab"), "board", "--state", str(STATE / "board.json")],
        "oauth_no_confirm": True,
        "display": True,
    },
]
roles = [
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    },
    # The board identifies whoever reports (GET /hub/api/user with their own token) and
    # needs nothing more; the facilitator reaches it through the admin role's access:services.
]
if os.environ.get("SSMLAB_HUB_API_TOKEN"):
    services.append({"name": "workshop-admin", "api_token": os.environ["SSMLAB_HUB_API_TOKEN"]})
    roles.append({
        "name": "workshop-admin",
        "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users"],
        "services": ["workshop-admin"],
    })
c.JupyterHub.services = services
c.JupyterHub.load_roles = roles
