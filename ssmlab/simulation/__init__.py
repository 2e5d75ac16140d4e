"""The offline lab's simulated world.

Everything ssmlab changes or adds to moto lives in this sub-package, one module per
concern, each extension citing the AWS behaviour it reproduces (docs/aws-facts.md,
with its sources):

- ``ec2_corrections``  the default VPC's internet gateway and route, as AWS creates them.
- ``public_images``    Debian 12's public AMI and SSM parameter, which moto lacks.
- ``instance_state``   what an instance keeps between commands and boots (files, the
                       agent installed and enabled, user data already run).
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
- ``automation``       Automation: the runbook AWSSupport-TroubleshootManagedInstance
                       (StartAutomationExecution, GetAutomationExecution,
                       DescribeAutomationStepExecutions, DescribeDocument), in lab time.
- ``ssm_more``         CancelCommand in the clock's time; DescribeDocument/GetDocument of
                       AWS-RunShellScript as AWS owns it.
- ``world``            state several modules read (SSM settings, the in-process lab).
- ``instance_shell``   bash on an instance (bashlex), for Run Command and Session Manager;
                       ``imds`` its instance metadata, ``instance_aws`` its curl and AWS CLI.
- ``session_shell``    Session Manager shells (ssm-user) kept for ``ssmlab session``.
- ``diagnostics``      what ``ssm-cli get-diagnostics`` would print on an instance.
- ``iam_simulator``    IAM SimulatePrincipalPolicy (``ssmlab doctor --aws`` uses it).
- ``policy``           the one policy and trust evaluator, pure functions over policy
                       documents (the agent, IAM corrections, simulator, widgets and
                       checkers use it; docs/aws-facts.md#policy-evaluation).
- ``_moto``            the one module that imports moto: backends, classes to extend,
                       exceptions, the patch helper; checked by install().
- ``sts_corrections``  temporary credentials (GetSessionToken, GetFederationToken) with
                       ASIA access key ids.
- ``cfn_corrections``  CreateStack's parameter validation, and a resource that fails
                       rolls the stack back (ROLLBACK_COMPLETE) with AWS's events.
- ``unmodelled``       every call the lab does not model answers in AWS's shape, in one
                       line, at the offline server's dispatch (used by ``ssmlab.offline``).

Nothing here is used against a real account (there the real agent and AWS answer), except
``policy``, which judges documents alone (the lab map and the checkers use it there too).
"""

from __future__ import annotations

import sys

# Modules that patch moto or hold the world's state; each exposes install() (idempotent)
# and may expose reset(). The clock first (a fresh lab starts a fresh clock), then the
# agents, then commands: when the clock moves, agents catch up before commands are
# delivered. Imported by name in install(), so importing the package loads none of them.
_PATCH_MODULES = (
    "ec2_corrections", "public_images", "iam_corrections", "iam_simulator", "ssm_api", "ssm_more", "sts_corrections", "cfn_corrections",
    "session_shell", "clock", "agent", "commands",
    "automation",  # after ssm_api: the Automation handlers on the same response class
)
_installed = False


def _patch_modules():
    import importlib

    return tuple(importlib.import_module(f"{__name__}.{name}") for name in _PATCH_MODULES)


def install() -> None:
    """Apply every correction and extension to moto, once per process."""
    global _installed
    if _installed:
        return
    from . import _moto

    _moto.check()  # one sentence naming moto's pinned versions if what is patched moved
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
