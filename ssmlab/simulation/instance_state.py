"""What one simulated instance keeps between commands and reboots.

Nothing runs on the lab's instances, but what a script does to one must last as on a real
disk: the files it writes or removes (the agent's configuration among them), whether the
SSM Agent is installed (an image without it, then ``dpkg -i``), whether its systemd unit is
enabled, and whether cloud-init has already run the user data that runs once per instance
(docs/aws-facts.md#instance-machine).

- :class:`Instance` is that state for one instance; :func:`get` finds or makes it, keyed by
  (account, Region, instance id), so every shell on the instance (Run Command, Session
  Manager, cloud-init at boot) reads and writes the same one.
- :func:`user_data_parts` reads EC2 user data as cloud-init does: a shell script (``#!``),
  or a MIME multi-part archive whose ``text/cloud-config`` part may make ``scripts-user``
  run at every boot.

Pure state and parsing; the agent (``agent``) and the shell (``instance_shell``) use it.
"""

from __future__ import annotations

import base64
import binascii
import email
import threading
from dataclasses import dataclass, field

#: The agent's configuration file; it reads it when it starts (agent/appconfig).
AGENT_CONFIG = "/etc/amazon/ssm/amazon-ssm-agent.json"

#: Directories a normal user (ssm-user) may write in; everything else is root's.
USER_WRITABLE = ("/tmp", "/home/ssm-user", "/var/tmp")


@dataclass
class Instance:
    """One instance's lasting state. ``files`` holds what was written (path -> text) and
    what was removed (path -> None) on top of what the image ships."""

    files: dict[str, str | None] = field(default_factory=dict)
    #: None: as the image ships it (judged from the AMI's name); True/False once changed.
    agent_installed: bool | None = None
    #: systemctl enable/disable amazon-ssm-agent (the packages enable it when installed).
    service_enabled: bool = True
    #: cloud-init ran the per-instance user data (at the instance's first boot).
    user_data_ran: bool = False

    def installed(self, image_ships_agent: bool) -> bool:
        return image_ships_agent if self.agent_installed is None else self.agent_installed


_INSTANCES: dict[tuple[str, str, str], Instance] = {}
_LOCK = threading.RLock()


def get(account_id: str, region: str, instance_id: str) -> Instance:
    with _LOCK:
        key = (account_id, region, instance_id)
        if key not in _INSTANCES:
            _INSTANCES[key] = Instance()
        return _INSTANCES[key]


def reset() -> None:
    with _LOCK:
        _INSTANCES.clear()


#: What runs at the end of a boot: cloud-init, set by ``instance_shell`` (which runs the
#: scripts), so the agent that calls it needs no import of the shell.
_boot_scripts = None


def set_boot_scripts(runner) -> None:
    global _boot_scripts
    _boot_scripts = runner


def run_boot_scripts(machine, at) -> None:
    """cloud-init on the instance of ``machine`` (an ``agent.AgentMachine``) at ``at``."""
    if _boot_scripts is not None:
        _boot_scripts(machine, at)


def writable_by(user: str, path: str) -> bool:
    """May ``user`` create or change ``path``? root anywhere; others in their own places."""
    return user == "root" or any(path == d or path.startswith(d + "/") for d in USER_WRITABLE)


# ---------------------------------------------------------------------------------------
# User data, as cloud-init reads it (docs/aws-facts.md#instance-machine)


def user_data_text(user_data) -> str:
    """EC2's user data as text: moto keeps what RunInstances or ModifyInstanceAttribute
    received (base64, or already decoded)."""
    if isinstance(user_data, (list, tuple)):
        user_data = user_data[0] if user_data else None
    if not user_data:
        return ""
    if hasattr(user_data, "as_bytes"):  # moto's Base64EncodedString
        user_data = user_data.as_bytes()
    raw = user_data.encode() if isinstance(user_data, str) else bytes(user_data)
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return raw.decode("utf-8", "replace")


@dataclass(frozen=True)
class UserData:
    """The scripts cloud-init's ``scripts-user`` module runs, and how often."""

    scripts: tuple[str, ...] = ()
    every_boot: bool = False  #: cloud_final_modules lists [scripts-user, always]
    unmodelled: str | None = None  #: a part the lab does not run (one line says so)


def _runs_every_boot(cloud_config: str) -> bool:
    import yaml

    try:
        config = yaml.safe_load(cloud_config) or {}
    except yaml.YAMLError:
        return False
    modules = config.get("cloud_final_modules") if isinstance(config, dict) else None
    for entry in modules or []:
        if isinstance(entry, list) and entry[:1] == ["scripts-user"] and "always" in entry[1:]:
            return True
    return False


def user_data_parts(user_data) -> UserData:
    """What cloud-init makes of the user data: a ``#!`` script (once per instance), or a
    MIME multi-part archive of ``text/x-shellscript`` and ``text/cloud-config`` parts."""
    text = user_data_text(user_data)
    if not text.strip():
        return UserData()
    if text.startswith("#!"):
        return UserData(scripts=(text,))
    if text.startswith("#cloud-config"):
        return UserData(every_boot=_runs_every_boot(text))
    head = text.lstrip()[:400].lower()
    if head.startswith("content-type: multipart/") or head.startswith("mime-version:"):
        message = email.message_from_string(text)
        scripts, every_boot, other = [], False, None
        for part in message.walk():
            kind = part.get_content_type()
            if part.is_multipart():
                continue
            body = part.get_payload(decode=True)
            body = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(part.get_payload())
            if kind == "text/x-shellscript":
                scripts.append(body)
            elif kind == "text/cloud-config":
                every_boot = every_boot or _runs_every_boot(body)
            else:
                other = kind
        return UserData(tuple(scripts), every_boot, other and f"a user data part of type {other}")
    return UserData(unmodelled="user data that is neither a #! script nor a MIME multi-part archive")
