"""What a program on a simulated instance answers, and the kernel the instance runs.

Below both ``instance_shell`` (bash) and ``instance_aws`` (its ``curl`` and AWS CLI), so
the shell can run the CLI and the CLI can answer in the shell's terms without the two
modules importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

# The kernel the lab reports (a release of each distribution's kernel line).
KERNEL = {"2023": "6.1.158-180.294.amzn2023.x86_64", "2": "5.10.245-241.976.amzn2.x86_64",
          "12": "6.1.0-40-cloud-amd64"}
#: The lab's exit code for a real command, or a bound, it does not simulate (bash never uses 120).
NOT_SIMULATED = 120


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    exit_code: int
    #: Seconds of the lab's clock the script took (a whole script's result; None: not counted).
    duration: float | None = None
