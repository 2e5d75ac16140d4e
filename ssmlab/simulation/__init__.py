"""The offline lab's simulated world.

Everything ssmlab changes or adds to moto lives in this sub-package, one module per
concern, each extension citing the AWS behaviour it reproduces (docs/aws-facts.md
or an AWS documentation page):

- ``ec2_corrections``  the default VPC's internet gateway and route, as AWS creates them.
- ``iam_corrections``  CreateRole validation, AssumeRole honouring trust policies,
                       RemoveRoleFromInstanceProfile's NoSuchEntity, SSM's
                       AccessDeniedException on the JSON protocol.
- ``clock``            the lab clock: virtual time, moved on by requests and waits.
- ``agent``            the simulated SSM Agent: a state machine per instance (booting,
                       registering, Online, sleeping, hibernating) driven by the clock,
                       judging each attempt from the lab's real state; what it logs.
- ``commands``         Run Command invocations in time (Pending, InProgress, terminal).
- ``ssm_api``          the Systems Manager APIs moto lacks or gets wrong
                       (DescribeInstanceInformation, GetConnectionStatus, Run Command).
- ``diagnostics``      what ``ssm-cli get-diagnostics`` would print on an instance.
- ``iam_simulator``    IAM SimulatePrincipalPolicy (``ssmlab doctor --aws`` uses it),
                       judged by moto's own policy evaluator.

Nothing here is used against a real account: there the real agent and AWS answer.
"""

from __future__ import annotations

import sys

# Modules that patch moto or hold the world's state; each exposes install() (idempotent)
# and may expose reset(). The clock first (a fresh lab starts a fresh clock), then the
# agents, then commands: when the clock moves, agents catch up before commands are
# delivered. Imported by name in install(), so importing the package loads none of them.
_PATCH_MODULES = ("ec2_corrections", "iam_corrections", "iam_simulator", "ssm_api", "clock", "agent", "commands")
_installed = False


def _patch_modules():
    import importlib

    return tuple(importlib.import_module(f"{__name__}.{name}") for name in _PATCH_MODULES)


def install() -> None:
    """Apply every correction and extension to moto, once per process."""
    global _installed
    if _installed:
        return
    for module in _patch_modules():
        module.install()
    _installed = True


def reset() -> None:
    """Forget the simulation's own state (the clock, agents, commands) for a fresh lab."""
    for name in _PATCH_MODULES:  # only those already imported can hold state
        module = sys.modules.get(f"{__name__}.{name}")
        reset_module = getattr(module, "reset", None)
        if reset_module is not None:
            reset_module()
