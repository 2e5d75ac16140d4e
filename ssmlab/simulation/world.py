"""State of the simulated world that several modules read, one layer below them.

- The simulation's own SSM state (service settings, command invocations, sessions),
  kept on moto's SSM backend object so moto's reset clears it too: the SSM API writes
  it, the agent reads the Default Host Management setting from it.
- The offline lab running in this process, if any: ``ssmlab diagnose`` answers from its
  backends directly. ``ssmlab.lab`` registers the look-up (:func:`set_local_lab`), so
  nothing here imports the lab.
"""

from __future__ import annotations

from typing import Any, Callable

STATE_ATTR = "_ssmlab_state"


def ssm_backend(account_id: str, region: str):
    from . import _moto  # lazy: `import ssmlab` (which registers the lab here) loads no moto

    return _moto.ssm_backend(account_id, region)


def state(backend) -> dict[str, Any]:
    """The simulation's SSM state on one moto SSM backend (created empty on first use)."""
    found = backend.__dict__.get(STATE_ATTR)
    if found is None:
        found = {"settings": {}, "invocations": {}}
        backend.__dict__[STATE_ATTR] = found
    return found


def setting_key(setting_id: str) -> str:
    # Accept the short id or the ARN arn:aws:ssm:REGION:ACCOUNT:servicesetting/ssm/...
    if setting_id.startswith("arn:"):
        return "/" + setting_id.split(":servicesetting/", 1)[-1].lstrip("/")
    return setting_id


def service_setting_value(account_id: str, region: str, setting_id: str) -> str | None:
    """A service setting's customised value, or None while it holds its default."""
    entry = state(ssm_backend(account_id, region))["settings"].get(setting_key(setting_id))
    if entry is None:
        return None
    value = entry["SettingValue"]
    return None if value in ("", "$None") else value


def forget_ssm_state() -> None:
    """Drop the simulation's SSM state from every SSM backend moto has loaded."""
    from . import _moto

    for backend in _moto.loaded_ssm_backends():
        backend.__dict__.pop(STATE_ATTR, None)


# ------------------------------------------------------------- the in-process lab

#: () -> (account id, Region, endpoint URL) of the offline lab in this process, or None.
_local_lab: Callable[[], tuple[str, str, str] | None] = lambda: None


def set_local_lab(lookup: Callable[[], tuple[str, str, str] | None]) -> None:
    global _local_lab
    _local_lab = lookup


def local_lab() -> tuple[str, str, str] | None:
    return _local_lab()
