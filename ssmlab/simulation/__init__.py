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

from . import agent, clock, commands, ec2_corrections, iam_corrections, iam_simulator, ssm_api

# Modules that patch moto; each exposes install() (idempotent) and may expose reset().
# agent before commands: when the clock moves, agents catch up before commands are delivered.
_PATCH_MODULES = (ec2_corrections, iam_corrections, iam_simulator, ssm_api, agent, commands)
_installed = False


def install() -> None:
    """Apply every correction and extension to moto, once per process."""
    global _installed
    if _installed:
        return
    for module in _PATCH_MODULES:
        module.install()
    _installed = True


def reset() -> None:
    """Forget the simulation's own state (agent logs, commands) for a fresh lab."""
    clock.reset()
    for module in _PATCH_MODULES:
        reset_module = getattr(module, "reset", None)
        if reset_module is not None:
            reset_module()
