"""A room on one shared endpoint: ``ssmlab serve --attendees N --cards DIR``.

Each attendee gets an AWS account of their own on the offline lab, so everyone can follow
the blog with its exact names (``role-for-ec2``, ``for-ec2``, ``stack-for-ec2``) and nobody
sees or changes anyone else's resources; the facilitator gets an account that sees the
room (docs/aws-facts.md#a-room-of-accounts). It is built the way AWS Organizations builds
a room of accounts:

- the facilitator's card holds the keys of IAM user ``facilitator`` in the organization's
  *management account*;
- each attendee's account is created with Organizations' ``CreateAccount`` (moto's:
  it also creates ``OrganizationAccountAccessRole`` in the new account, trusting the
  management account, as AWS does; here it gets ``AdministratorAccess`` attached, as on AWS);
- each attendee's card holds the keys of IAM user ``learner`` in their own account (the
  user a notebook's offline lab uses);
- ``ssmlab room`` (with the facilitator's card) lists the organization's accounts and, for
  each, assumes ``OrganizationAccountAccessRole`` to read its roles, instance profiles,
  stacks, instances and managed nodes: the facilitator's way in, as on AWS.

moto tells accounts apart by access key; :class:`ssmlab.simulation.room_guard.RoomGuard`
makes sure only the room's keys are served. Keys are drawn with :mod:`secrets` and written
only to the cards (files of mode 0600); the terminal shows the cards' paths, never a key.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import boto3

from .errors import LabError
from .i18n import _

MAX_ATTENDEES = 99  # two digits in attendee-NN
LEARNER = "learner"
FACILITATOR = "facilitator"
#: The role AWS Organizations creates in an account it creates (Organizations User Guide,
#: "Accessing member accounts in your organization").
ACCESS_ROLE = "OrganizationAccountAccessRole"
ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
FACILITATOR_CARD = "facilitator.env"
#: Access key ids: AKIA and 16 characters of AWS's key alphabet (upper case and 2-7).
KEY_ALPHABET = string.ascii_uppercase + "234567"
SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


def card_name(number: int) -> str:
    return f"attendee-{number:02d}.env"


def new_access_key() -> tuple[str, str]:
    """(access key id, secret access key), unguessable (:mod:`secrets`), shaped as AWS's."""
    key_id = "AKIA" + "".join(secrets.choice(KEY_ALPHABET) for _ in range(16))
    secret = "".join(secrets.choice(SECRET_ALPHABET) for _ in range(40))
    return key_id, secret


def new_account_id() -> str:
    """A 12-digit account id for the management account (never moto's default one)."""
    return str(10**11 + secrets.randbelow(9 * 10**11))


def check_room(attendees: int, cards: str | os.PathLike | None) -> Path:
    """The cards' directory, or LabError in one sentence before anything is started."""
    if isinstance(attendees, bool) or not isinstance(attendees, int) or not 1 <= attendees <= MAX_ATTENDEES:
        raise LabError(_("--attendees takes a number from 1 to {most}, not {given}.").format(
            most=MAX_ATTENDEES, given=attendees))
    if cards is None:
        raise LabError(_("--attendees needs --cards DIR: the directory to write each attendee's card to."))
    folder = Path(cards)
    if folder.exists() and not folder.is_dir():
        raise LabError(_("--cards {folder} is a file, not a directory.").format(folder=folder))
    existing = sorted(p.name for p in [*folder.glob("attendee-*.env"), *folder.glob(FACILITATOR_CARD)]) \
        if folder.is_dir() else []
    if existing:
        raise LabError(_(
            "{folder} already holds cards from another run ({first}): remove them, or choose an "
            "empty --cards directory (a card works only with the server that wrote it)."
        ).format(folder=folder, first=existing[0]))
    parent = folder if folder.is_dir() else _existing_parent(folder)
    if not parent.is_dir():
        raise LabError(_("Cannot write cards to {folder}: {parent} is not a directory.").format(
            folder=folder, parent=parent))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise LabError(_("Cannot write cards to {folder}: {parent} is not writable.").format(
            folder=folder, parent=parent))
    return folder


def _existing_parent(path: Path) -> Path:
    for parent in path.parents:
        if parent.exists():
            return parent
    return Path("/")


@dataclass(frozen=True)
class Member:
    """One account of the room and the keys its card holds."""

    name: str  # attendee-07, or facilitator
    account_id: str
    user_arn: str
    access_key_id: str
    secret_access_key: str


@dataclass
class Room:
    endpoint: str
    region: str
    facilitator: Member
    attendees: list[Member]
    cards: list[Path]
    _written: list[tuple[int, int]] = field(default_factory=list)  # (device, inode) of each card

    @property
    def accounts(self) -> set[str]:
        return {self.facilitator.account_id, *(m.account_id for m in self.attendees)}

    def remove_cards(self) -> None:
        """Remove the cards this room wrote (a file put in their place since stays)."""
        for path, written in zip(self.cards, self._written):
            with contextlib.suppress(FileNotFoundError):
                if _identity(path) == written:
                    path.unlink()


def _identity(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_dev, status.st_ino


def _client(service: str, endpoint: str, region: str, key: str, secret: str, token: str | None = None):
    return boto3.client(service, endpoint_url=endpoint, region_name=region, aws_access_key_id=key,
                        aws_secret_access_key=secret, aws_session_token=token)


def open_room(endpoint, attendees: int, region: str, create_user_with_key: Callable,
              prepare_account: Callable[[str, str], None] = lambda account, region: None) -> Room:
    """Create the organization, its accounts and their users on the lab at ``endpoint``
    (an ``OfflineEndpoint`` just reset). ``create_user_with_key(account, user, key, secret)``
    is the lab's (``simulation._moto``): moto's own keys are drawn from its seeded random;
    ``prepare_account(account, region)`` makes each account's backends before anyone waits."""
    url = endpoint.url
    management = new_account_id()
    key, secret = new_access_key()
    arn = create_user_with_key(management, FACILITATOR, key, secret)
    facilitator = Member(FACILITATOR, management, arn, key, secret)
    org = _client("organizations", url, region, key, secret)
    org.create_organization(FeatureSet="ALL")
    sts = _client("sts", url, region, key, secret)
    members = []
    for number in range(1, attendees + 1):
        name = f"attendee-{number:02d}"
        status = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        account_id = status["AccountId"]
        # OrganizationAccountAccessRole "grants full administrative permissions": AWS attaches
        # AdministratorAccess; moto creates the role without it.
        assumed = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/{ACCESS_ROLE}",
                                  RoleSessionName="ssmlab-room")["Credentials"]
        _client("iam", url, region, assumed["AccessKeyId"], assumed["SecretAccessKey"],
                assumed["SessionToken"]).attach_role_policy(RoleName=ACCESS_ROLE, PolicyArn=ADMINISTRATOR_ACCESS)
        key, secret = new_access_key()
        arn = create_user_with_key(account_id, LEARNER, key, secret)
        prepare_account(account_id, region)
        members.append(Member(name, account_id, arn, key, secret))
    return Room(url, region, facilitator, members, [])


def card_text(member: Member, endpoint: str, region: str) -> str:
    exports = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": member.access_key_id,
        "AWS_SECRET_ACCESS_KEY": member.secret_access_key,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }
    if member.name == FACILITATOR:
        about = _("# The facilitator's card: the room's management account {account}. "
                  "`ssmlab room` lists every attendee's resources.").format(account=member.account_id)
    else:
        about = _("# {name}'s card: account {account} of its own, IAM user {user}. Nobody else "
                  "can see or change it.").format(name=member.name, account=member.account_id,
                                                  user=member.user_arn.rsplit("/", 1)[-1])
    return "\n".join([
        _("# ssmlab offline room on {endpoint}. Nothing here reaches AWS.").format(endpoint=endpoint),
        about,
        _("# In a shell: source this file, then use the AWS CLI or any SDK as usual."),
        "unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN",
        "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in exports.items()),
        "",
    ])


def write_cards(room: Room, folder: Path) -> list[Path]:
    """Write every card (mode 0600, each created new); on any failure remove those written."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    written: list[Path] = []
    identities: list[tuple[int, int]] = []
    try:
        for member in [*room.attendees, room.facilitator]:
            path = folder / (FACILITATOR_CARD if member.name == FACILITATOR else card_name(int(member.name[-2:])))
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            written.append(path)
            with os.fdopen(descriptor, "w") as card:
                card.write(card_text(member, room.endpoint, room.region))
            identities.append(_identity(path))
    except OSError as error:
        for path in written:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise LabError(_("Cannot write cards to {folder}: {reason}.").format(
            folder=folder, reason=error.strerror or error)) from None
    room.cards, room._written = written, identities
    return written


# ---------------------------------------------------------------------------------------
# ssmlab room: what the facilitator sees


@dataclass
class AccountView:
    name: str
    account_id: str
    roles: list[str]
    instance_profiles: list[str]
    stacks: list[str]
    instances: list[str]
    managed: list[str]  # instance id and PingStatus


def survey(endpoint: str, region: str, key: str, secret: str, token: str | None = None) -> list[AccountView]:
    """Every member account's resources, read as the management account would on AWS:
    ``organizations list-accounts``, then ``sts assume-role`` into each account's
    OrganizationAccountAccessRole."""
    org = _client("organizations", endpoint, region, key, secret, token)
    sts = _client("sts", endpoint, region, key, secret, token)
    me = sts.get_caller_identity()["Account"]
    accounts = [a for page in org.get_paginator("list_accounts").paginate() for a in page["Accounts"]]
    views = []
    for account in sorted(accounts, key=lambda a: a["Name"]):
        if account["Id"] == me:
            continue
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account['Id']}:role/{ACCESS_ROLE}",
                                RoleSessionName="ssmlab-room")["Credentials"]

        def client(service):
            return _client(service, endpoint, region, creds["AccessKeyId"], creds["SecretAccessKey"],
                           creds["SessionToken"])

        iam, ec2 = client("iam"), client("ec2")
        roles = sorted(r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"] != ACCESS_ROLE)
        profiles = [f"{p['InstanceProfileName']}({','.join(r['RoleName'] for r in p['Roles'])})"
                    for p in iam.list_instance_profiles()["InstanceProfiles"]]
        stacks = [f"{s['StackName']}:{s['StackStatus']}" for s in client("cloudformation").describe_stacks()["Stacks"]]
        instances = [f"{i['InstanceId']}:{i['State']['Name']}"
                     for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
        managed = [f"{n['InstanceId']}:{n['PingStatus']}"
                   for n in client("ssm").describe_instance_information()["InstanceInformationList"]]
        views.append(AccountView(account["Name"], account["Id"], roles, profiles, stacks, instances, managed))
    return views


def render(views: list[AccountView]) -> str:
    """One block per attendee: what they have made so far."""
    lines = []
    for view in views:
        lines.append(f"{view.name} (account {view.account_id})")
        for label, items in ((_("roles"), view.roles), (_("instance profiles"), view.instance_profiles),
                             (_("stacks"), view.stacks), (_("instances"), view.instances),
                             (_("managed nodes"), view.managed)):
            lines.append(f"  {label + ':':<19}{', '.join(items) if items else '-'}")
    if not views:
        lines.append(_("No attendee accounts in this organization."))
    return "\n".join(lines) + "\n"


def main(args) -> int:
    """``ssmlab room``: with the facilitator's card sourced, print the room."""
    import botocore.exceptions

    endpoint = getattr(args, "endpoint", None) or os.environ.get("AWS_ENDPOINT_URL")
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not endpoint or not key or not secret:
        raise LabError(_("ssmlab room needs the facilitator's card: `source DIR/facilitator.env` first "
                         "(it sets AWS_ENDPOINT_URL and the facilitator's keys)."))
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    try:
        views = survey(endpoint, region, key, secret, os.environ.get("AWS_SESSION_TOKEN"))
    except botocore.exceptions.ClientError as error:
        info = error.response.get("Error", {})
        raise LabError(_("The room's endpoint refused these keys ({code}: {message}): source the "
                         "facilitator's card of the server that runs now.").format(
            code=info.get("Code"), message=info.get("Message"))) from None
    except botocore.exceptions.EndpointConnectionError:
        raise LabError(_("No room answers at {endpoint}: is `ssmlab serve --attendees N` running?").format(
            endpoint=endpoint)) from None
    print(render(views), end="")
    return 0


# ---------------------------------------------------------------------------------------
# The blog's journey as one attendee makes it (a rehearsal for the facilitator, the room's
# test and its benchmark)

TRUST_EC2 = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
             '"Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}')
TRUST_EC2_AND_SSM = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": '
                     '{"Service": ["ec2.amazonaws.com", "ssm.amazonaws.com"]}, "Action": "sts:AssumeRole"}]}')
CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
#: describe-instance-information calls before a journey gives up waiting for Online.
ONLINE_POLLS = 100


def read_card(path: str | os.PathLike) -> dict[str, str]:
    """The variables a card exports."""
    for line in Path(path).read_text().splitlines():
        if line.startswith("export "):
            return dict(word.split("=", 1) for word in shlex.split(line[len("export "):]))
    raise LabError(_("{path} is not an ssmlab card: it has no export line.").format(path=path))


@dataclass
class Journey:
    """What one attendee's journey saw, and each call's latency in seconds."""

    account_id: str = ""
    instance_id: str = ""
    second_role_error: str = ""
    ping_status: str = ""
    roles: tuple[str, ...] = ()
    instances: tuple[str, ...] = ()
    managed: tuple[str, ...] = ()
    profile_arn: str = ""
    latencies: dict[str, list[float]] | None = None


def blog_journey(card: dict[str, str], template: str, pause: Callable[[], None] | None = None) -> Journey:
    """The blog's journey with its exact names, through boto3 on ``card``'s keys: create-role,
    create-instance-profile, add-role-to-instance-profile, create-stack from ``template``,
    the second role (LimitExceeded), the trust detour, attach AmazonSSMManagedInstanceCore,
    reboot, then describe-instance-information until the instance is Online. ``pause()``,
    if given, runs before each call (a person's time to read and type)."""
    import time

    import botocore.exceptions

    session = boto3.session.Session(aws_access_key_id=card["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=card["AWS_SECRET_ACCESS_KEY"],
                                    region_name=card["AWS_REGION"])
    clients = {name: session.client(name, endpoint_url=card["AWS_ENDPOINT_URL"])
               for name in ("iam", "cloudformation", "ec2", "ssm", "sts")}
    seen = Journey(latencies={})

    def call(service, operation, **params):
        if pause is not None:
            pause()
        began = time.perf_counter()
        try:
            return getattr(clients[service], operation)(**params)
        finally:
            seen.latencies.setdefault(f"{service}:{operation}", []).append(time.perf_counter() - began)

    seen.account_id = call("sts", "get_caller_identity")["Account"]
    call("iam", "create_role", RoleName="role-for-ec2", AssumeRolePolicyDocument=TRUST_EC2)
    call("iam", "create_instance_profile", InstanceProfileName="for-ec2")
    call("iam", "add_role_to_instance_profile", InstanceProfileName="for-ec2", RoleName="role-for-ec2")
    call("cloudformation", "create_stack", StackName="stack-for-ec2", TemplateBody=template,
         Parameters=[{"ParameterKey": "InstanceProfileName", "ParameterValue": "for-ec2"}])
    stack = call("cloudformation", "describe_stacks", StackName="stack-for-ec2")["Stacks"][0]
    seen.instance_id = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}.get("InstanceId", "")
    call("iam", "create_role", RoleName="role-for-ssm", AssumeRolePolicyDocument=TRUST_EC2)
    try:
        call("iam", "add_role_to_instance_profile", InstanceProfileName="for-ec2", RoleName="role-for-ssm")
    except botocore.exceptions.ClientError as error:
        seen.second_role_error = f"{error.response['Error']['Code']}: {error.response['Error']['Message']}"
    call("iam", "update_assume_role_policy", RoleName="role-for-ec2", PolicyDocument=TRUST_EC2_AND_SSM)
    call("iam", "attach_role_policy", RoleName="role-for-ec2", PolicyArn=CORE_POLICY)
    call("ec2", "reboot_instances", InstanceIds=[seen.instance_id])
    for _poll in range(ONLINE_POLLS):
        nodes = call("ssm", "describe_instance_information")["InstanceInformationList"]
        seen.managed = tuple(f"{n['InstanceId']}:{n['PingStatus']}" for n in nodes)
        if f"{seen.instance_id}:Online" in seen.managed:
            seen.ping_status = "Online"
            break
    seen.roles = tuple(r["RoleName"] for r in call("iam", "list_roles")["Roles"])
    reservations = call("ec2", "describe_instances")["Reservations"]
    seen.instances = tuple(i["InstanceId"] for r in reservations for i in r["Instances"])
    for reservation in reservations:
        for instance in reservation["Instances"]:
            seen.profile_arn = instance.get("IamInstanceProfile", {}).get("Arn", "")
    return seen
