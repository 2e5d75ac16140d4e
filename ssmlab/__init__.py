"""ssmlab: IAM roles, instance profiles and AWS Systems Manager, hands-on.

    import ssmlab
    lab = ssmlab.start()          # offline: moto on 127.0.0.1, no AWS account needed
    iam = lab.client("iam")
    !aws iam list-roles           # in a notebook cell: the same offline lab
"""

from .errors import LabError
from .lab import Lab, current, start, stop

__all__ = ["Lab", "LabError", "current", "start", "stop"]
__version__ = "0.1.0"
