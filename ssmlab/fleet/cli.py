"""``ssmlab fleet new|grade|answers|hint|show|template``: the fleet from a terminal, against the current
endpoint (the ``AWS_ENDPOINT_URL`` that ``ssmlab serve`` prints) or, with ``--aws`` (or
``SSMLAB_BACKEND=aws``), the confirmed real account."""

from __future__ import annotations

import argparse
import os

from ..errors import LabError
from ..i18n import _


def endpoint_lab(endpoint: str, region: str | None = None):
    """A Lab whose clients talk to an offline lab served by another process."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from ..lab import Lab

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    session = boto3.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "ssmlab"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "ssmlab"),
        region_name=region,
    )
    lab = Lab(backend="offline", region=region, account_id="", session=session, env=dict(os.environ),
              endpoint=endpoint)
    try:
        lab.account_id = lab.client("sts").get_caller_identity()["Account"]
    except ClientError as error:  # it answers, and says no (a wrong room key): AWS's own words
        raise LabError(aws_error(error)) from None
    except BotoCoreError as error:  # nothing answers there: one sentence
        raise LabError(_("The offline lab at {endpoint} does not answer ({error}): is `ssmlab serve` still "
                         "running?").format(endpoint=endpoint, error=type(error).__name__)) from None
    return lab


def aws_error(error) -> str:
    """A botocore ``ClientError`` as the AWS CLI prints it, one line: "An error occurred
    (Code) when calling the Operation operation: message"."""
    return " ".join(str(error).split())


def _lab(args: argparse.Namespace):
    if args.aws or os.environ.get("SSMLAB_BACKEND") == "aws":
        from .. import lab as lab_module

        return lab_module.start("aws", region=args.region, quiet=True)
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise LabError(_("No lab to talk to: start `ssmlab serve` and export the AWS_ENDPOINT_URL it prints, "
                         "or pass --aws for the real account in SSMLAB_AWS_ACCOUNT."))
    return endpoint_lab(endpoint, args.region)


def _run(args: argparse.Namespace) -> int:
    from botocore.exceptions import ClientError

    try:
        return _run_on(_lab(args), args)
    except ClientError as error:  # an AccessDenied, a throttle past the retries: AWS's words
        raise LabError(aws_error(error)) from None


def _run_on(lab, args: argparse.Namespace) -> int:
    from .. import fleet

    if args.fleet_command == "template":
        from .template import to_json

        print(to_json(fleet.template_for(lab, args.seed)))
        return 0
    if args.fleet_command == "new":
        built = fleet.build(lab, args.seed)
        print(built)
        print(_("Not one of them is managed yet. `ssmlab fleet grade` says where each stands."))
        return 0
    current = fleet.load(lab)
    if args.fleet_command == "grade":
        grades = fleet.grade(lab, current)
        print(fleet.scoreboard(grades))
        return 0 if all(g.passed for g in grades) else 1
    if args.fleet_command == "answers":
        print(fleet.answers(current), end="")
        return 0
    if args.fleet_command == "hint":
        print(fleet.hint(lab, current, args.member, args.level))
        return 0
    print(current.show(causes=args.causes))
    return 0


def add_parser(commands) -> None:
    """Add ``fleet`` and its sub-commands to ``ssmlab``'s parser."""
    parser = commands.add_parser("fleet", help=_("the fix-the-fleet lab: build, grade, hints, the answer key"))
    parser.add_argument("--aws", action="store_true",
                        help=_("the real account in SSMLAB_AWS_ACCOUNT instead of $AWS_ENDPOINT_URL"))
    parser.add_argument("--region", help=_("the Region (default: AWS_REGION, else us-east-1)"))
    sub = parser.add_subparsers(dest="fleet_command", required=True, metavar="FLEET_COMMAND")
    new = sub.add_parser("new", help=_("build a fleet of 8 instances, each unmanaged for a cause the seed draws"))
    new.add_argument("--seed", type=int, required=True, help=_("which causes (a whole number; same seed, same fleet)"))
    sub.add_parser("grade", help=_("one line per instance; exit 0 only when every one is fixed acceptably"))
    sub.add_parser("answers", help=_("the facilitator's key: AWS CLI commands, least change per instance"))
    hint = sub.add_parser("hint", help=_("a hint for one instance"))
    hint.add_argument("member", metavar="MEMBER", help=_("node-01 ... or its instance id"))
    hint.add_argument("--level", type=int, default=1, choices=(1, 2), help=_("1 narrows, 2 names the cause"))
    body = sub.add_parser("template", help=_("print the fleet's CloudFormation template for a seed (JSON)"))
    body.add_argument("--seed", type=int, required=True)
    show = sub.add_parser("show", help=_("the members and their instance ids"))
    show.add_argument("--causes", action="store_true", help=_("also each member's cause (facilitators)"))
    parser.set_defaults(run=_run)
