"""A room on one endpoint: `ssmlab serve --attendees N --cards DIR`.

Ten attendees make the blog's journey at the same time with its exact names, each with
their own card: no collisions, each sees exactly their own; nobody reaches another's
account; the facilitator's card sees the room. (The 50-attendee run with timings is
benchmarks/room.py; no timing is asserted here.)
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import boto3
import botocore.exceptions
import pytest

import ssmlab
from ssmlab import room, templates

BIN = Path(sys.executable).parent
ATTENDEES = 10
OWN_ROLES = {"role-for-ec2", "role-for-ssm", "OrganizationAccountAccessRole"}


def serve(*args: str) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "ssmlab"), "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A room of ten, its cards' folder and what the server printed."""
    # The room is another process, reached as from a terminal: a lab an earlier test left
    # running in this one would (rightly) refuse clients for any other endpoint.
    ssmlab.stop()
    folder = tmp_path_factory.mktemp("room") / "cards"
    process = serve("--attendees", str(ATTENDEES), "--cards", str(folder))
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Serving until" in line:
            break
    else:
        pytest.fail("ssmlab serve --attendees stopped early: " + "".join(lines) + process.stderr.read())
    yield process, folder, "".join(lines)
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def journeys(served):
    """Every attendee's blog journey, all at once (one thread each)."""
    _, folder, _ = served
    cards = [room.read_card(folder / room.card_name(n)) for n in range(1, ATTENDEES + 1)]
    template = templates.EC2_INSTANCE_PROFILE.read_text()
    with concurrent.futures.ThreadPoolExecutor(ATTENDEES) as pool:
        return cards, list(pool.map(lambda card: room.blog_journey(card, template), cards))


def client(card: dict, service: str):
    return boto3.client(service, endpoint_url=card["AWS_ENDPOINT_URL"], region_name=card["AWS_REGION"],
                        aws_access_key_id=card["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=card["AWS_SECRET_ACCESS_KEY"])


def shell_env(card: dict, tmp_path: Path) -> dict:
    return {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path), **card}


def test_cards_are_private_files_and_no_key_reaches_the_terminal(served):
    _, folder, printed = served
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([room.card_name(n) for n in range(1, ATTENDEES + 1)] + ["facilitator.env"])
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        card = room.read_card(path)
        assert set(card) == {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                             "AWS_REGION", "AWS_DEFAULT_REGION"}
        assert re.fullmatch(r"AKIA[A-Z2-7]{16}", card["AWS_ACCESS_KEY_ID"])
        assert card["AWS_ACCESS_KEY_ID"] not in printed and card["AWS_SECRET_ACCESS_KEY"] not in printed
        assert "unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN" in path.read_text()
    assert str(folder / "attendee-01.env") in printed and str(folder / "facilitator.env") in printed
    keys = {room.read_card(p)["AWS_ACCESS_KEY_ID"] for p in folder.iterdir()}
    assert len(keys) == ATTENDEES + 1


def test_ten_journeys_with_the_same_names_do_not_collide(journeys):
    _, seen = journeys
    assert len({j.account_id for j in seen}) == ATTENDEES
    assert len({j.instance_id for j in seen}) == ATTENDEES
    for journey in seen:
        # The error lesson 04 teaches, for the right reason (the attendee's own profile).
        assert journey.second_role_error == (
            "LimitExceeded: Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
        assert journey.ping_status == "Online"
        assert set(journey.roles) == OWN_ROLES and len(journey.roles) == 3
        assert journey.instances == (journey.instance_id,)
        assert journey.managed == (f"{journey.instance_id}:Online",)
        assert journey.profile_arn == f"arn:aws:iam::{journey.account_id}:instance-profile/for-ec2"


def test_the_facilitator_sees_every_attendee(served, journeys, tmp_path):
    _, folder, _ = served
    _, seen = journeys
    env = shell_env(room.read_card(folder / "facilitator.env"), tmp_path)
    result = subprocess.run([str(BIN / "ssmlab"), "room"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    blocks = result.stdout.split("attendee-")[1:]
    assert len(blocks) == ATTENDEES
    for number, (block, journey) in enumerate(zip(blocks, seen), start=1):
        assert block.startswith(f"{number:02d} (account {journey.account_id})")
        assert "roles:             role-for-ec2, role-for-ssm\n" in block
        assert "instance profiles: for-ec2(role-for-ec2)\n" in block
        assert "stacks:            stack-for-ec2:CREATE_COMPLETE\n" in block
        assert f"managed nodes:     {journey.instance_id}:Online\n" in block


def test_nobody_reaches_another_attendees_account(journeys):
    cards, seen = journeys
    mine, theirs = cards[0], seen[1]
    # Assume the other account's access role: it trusts the management account only.
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        client(mine, "sts").assume_role(RoleArn=f"arn:aws:iam::{theirs.account_id}:role/OrganizationAccountAccessRole",
                                        RoleSessionName="peek")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    # moto's account header is not obeyed from outside.
    iam = client(mine, "iam")
    iam.meta.events.register("before-send", lambda request, **_: request.headers.__setitem__(
        "x-moto-account-id", theirs.account_id))
    assert set(r["Arn"].split(":")[4] for r in iam.list_roles()["Roles"]) == {seen[0].account_id}
    # The other's instance is not there for me.
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        client(mine, "ec2").describe_instances(InstanceIds=[theirs.instance_id])
    assert missing.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    with pytest.raises(botocore.exceptions.ClientError) as not_managed:
        client(mine, "ssm").send_command(DocumentName="AWS-RunShellScript", InstanceIds=[theirs.instance_id],
                                         Parameters={"commands": ["id"]})
    assert not_managed.value.response["Error"]["Code"] == "InvalidInstanceId"
    with pytest.raises(botocore.exceptions.ClientError) as no_stack:
        client(mine, "cloudformation").describe_stacks(StackName=f"arn:aws:cloudformation:us-east-1:"
                                                                 f"{theirs.account_id}:stack/stack-for-ec2/x")
    assert no_stack.value.response["Error"]["Code"] == "ValidationError"
    # Only the management account lists the organization's accounts.
    with pytest.raises(botocore.exceptions.ClientError) as not_management:
        client(mine, "organizations").list_accounts()
    assert not_management.value.response["Error"]["Code"] == "AccessDeniedException"


@pytest.mark.parametrize("service, operation, code", [
    ("sts", "get_caller_identity", "InvalidClientTokenId"),
    ("iam", "list_roles", "InvalidClientTokenId"),
    ("ec2", "describe_instances", "AuthFailure"),
    ("ssm", "describe_instance_information", "UnrecognizedClientException"),
    ("cloudformation", "list_stacks", "InvalidClientTokenId"),
])
def test_a_key_the_room_does_not_hold_is_refused_as_aws_refuses_it(served, journeys, service, operation, code):
    cards, _ = journeys
    # The single lab's learner key (seeded, so anyone can know it) is no room key either.
    stranger = dict(cards[0], AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE")
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        getattr(client(stranger, service), operation)()
    assert refused.value.response["Error"]["Code"] == code


@pytest.mark.parametrize("service, operation, code", [
    ("sts", "get_caller_identity", "SignatureDoesNotMatch"),
    ("ec2", "describe_instances", "AuthFailure"),
    ("ssm", "describe_instance_information", "InvalidSignatureException"),
])
def test_a_room_key_with_another_secret_is_refused(journeys, service, operation, code):
    cards, _ = journeys
    wrong = dict(cards[0], AWS_SECRET_ACCESS_KEY=cards[1]["AWS_SECRET_ACCESS_KEY"])
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        getattr(client(wrong, service), operation)()
    assert refused.value.response["Error"]["Code"] == code
    assert refused.value.response["Error"]["Message"].startswith(
        "The request signature we calculated does not match" if code != "AuthFailure" else "AWS was not able")


def test_the_real_aws_cli_with_a_card(journeys, tmp_path):
    cards, seen = journeys
    env = shell_env(cards[7], tmp_path)
    roles = subprocess.run(["aws", "iam", "list-roles", "--query", "Roles[].RoleName", "--output", "text"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert roles.returncode == 0, roles.stderr
    assert set(roles.stdout.split()) == OWN_ROLES
    created = subprocess.run(["aws", "iam", "create-role", "--role-name", "role-for-ec2",
                              "--assume-role-policy-document", room.TRUST_EC2], env=env,
                             capture_output=True, text=True, timeout=120)
    assert created.returncode == 255
    assert created.stderr.strip() == ("An error occurred (EntityAlreadyExists) when calling the CreateRole "
                                      "operation: Role with name role-for-ec2 already exists.")


def test_moto_api_is_closed(journeys):
    import urllib.error
    import urllib.request

    cards, _ = journeys
    for path in ("/moto-api/data.json", "/moto-api/reset"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(cards[0]["AWS_ENDPOINT_URL"] + path, method="POST"))
        assert refused.value.code == 403
        assert json.loads(refused.value.read())["__type"] == "AccessDeniedException"


def test_the_instances_cli_acts_in_its_own_account(journeys):
    cards, seen = journeys
    card, journey = cards[2], seen[2]
    iam = client(card, "iam")
    iam.create_role(RoleName="only-in-03", AssumeRolePolicyDocument=room.TRUST_EC2)
    iam.put_role_policy(RoleName="role-for-ec2", PolicyName="list-roles", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]}))
    ssm = client(card, "ssm")
    command = ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=[journey.instance_id], Parameters={
        "commands": ["aws iam list-roles --query 'Roles[].RoleName' --output text"]})["Command"]["CommandId"]
    ssm.get_waiter("command_executed").wait(CommandId=command, InstanceId=journey.instance_id)
    output = ssm.get_command_invocation(CommandId=command, InstanceId=journey.instance_id)["StandardOutputContent"]
    assert set(output.split()) == OWN_ROLES | {"only-in-03"}


def test_diagnose_works_per_attendee(journeys, tmp_path):
    cards, seen = journeys
    mine = subprocess.run([str(BIN / "ssmlab"), "diagnose", seen[3].instance_id], env=shell_env(cards[3], tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert mine.returncode == 0, mine.stderr
    assert f"{seen[3].instance_id} is registered with Systems Manager" in mine.stdout
    other = subprocess.run([str(BIN / "ssmlab"), "diagnose", seen[3].instance_id], env=shell_env(cards[4], tmp_path),
                           capture_output=True, text=True, timeout=120)
    assert other.returncode == 1
    assert "is registered with Systems Manager" not in other.stdout


def test_stopping_removes_the_cards(tmp_path):
    folder = tmp_path / "cards"
    process = serve("--attendees", "1", "--cards", str(folder))
    for line in process.stdout:
        if "Serving until" in line:
            break
    assert (folder / "attendee-01.env").exists()
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert out.strip().endswith("ssmlab offline room stopped.")
    assert list(folder.iterdir()) == []


def refused(*args: str, env: dict | None = None) -> str:
    result = subprocess.run([str(BIN / "ssmlab"), "serve", "--port", "0", *args],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2 and result.stdout == "", (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    return result.stderr


def test_bad_rooms_are_one_sentence_and_create_nothing(tmp_path):
    folder = tmp_path / "cards"
    assert refused("--attendees", "0", "--cards", str(folder)) == (
        "ssmlab: --attendees takes a number from 1 to 99, not 0.\n")
    assert refused("--attendees", "100", "--cards", str(folder)) == (
        "ssmlab: --attendees takes a number from 1 to 99, not 100.\n")
    assert refused("--attendees", "3") == (
        "ssmlab: --attendees needs --cards DIR: the directory to write each attendee's card to.\n")
    assert refused("--cards", str(folder)) == (
        "ssmlab: --cards needs --attendees N: the number of attendees to write cards for.\n")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("")
    assert refused("--attendees", "2", "--cards", str(a_file)) == f"ssmlab: --cards {a_file} is a file, not a directory.\n"
    assert refused("--attendees", "2", "--cards", str(a_file / "cards")) == (
        f"ssmlab: Cannot write cards to {a_file / 'cards'}: {a_file} is not a directory.\n")
    assert refused("--attendees", "2", "--cards", str(folder), env=dict(os.environ, MOTO_ACCOUNT_ID="111122223333")) == (
        "ssmlab: MOTO_ACCOUNT_ID is set, which would put every attendee in one account: unset it "
        "before `ssmlab serve --attendees`.\n")
    assert not folder.exists()
    folder.mkdir()
    (folder / "attendee-01.env").write_text("export AWS_ACCESS_KEY_ID=AKIAOLD\n")
    assert refused("--attendees", "2", "--cards", str(folder)) == (
        f"ssmlab: {folder} already holds cards from another run (attendee-01.env): remove them, or "
        f"choose an empty --cards directory (a card works only with the server that wrote it).\n")
    assert sorted(p.name for p in folder.iterdir()) == ["attendee-01.env"]
    # Other files are no cards: a folder holding only them is used.
    (folder / "attendee-01.env").unlink()
    (folder / "notes.env").write_text("")
    process = serve("--attendees", "1", "--cards", str(folder))
    try:
        assert any("Serving until" in line for line in process.stdout)
        assert sorted(p.name for p in folder.iterdir()) == ["attendee-01.env", "facilitator.env", "notes.env"]
    finally:
        process.terminate()
        process.communicate(timeout=60)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.env"]


def test_a_session_shell_is_reached_from_its_own_account_only(journeys, tmp_path):
    from ssmlab.session import Session, SessionError

    cards, seen = journeys
    mine, other = cards[5], cards[6]
    shell = subprocess.run([str(BIN / "ssmlab"), "session", seen[5].instance_id], input="whoami\nexit\n",
                           env=shell_env(mine, tmp_path), capture_output=True, text=True, timeout=120)
    assert shell.returncode == 0, shell.stderr
    assert "ssm-user" in shell.stdout
    refused = subprocess.run([str(BIN / "ssmlab"), "session", seen[5].instance_id], input="whoami\n",
                             env=shell_env(other, tmp_path), capture_output=True, text=True, timeout=120)
    assert refused.returncode == 254
    assert "TargetNotConnected" in refused.stderr
    # An open session's id is of no use from another account.
    session = Session.start(mine["AWS_ENDPOINT_URL"], "us-east-1", mine["AWS_ACCESS_KEY_ID"], seen[5].instance_id,
                            mine["AWS_SECRET_ACCESS_KEY"])
    intruder = Session(other["AWS_ENDPOINT_URL"], "us-east-1", other["AWS_ACCESS_KEY_ID"], seen[5].instance_id,
                       session_id=session.session_id, secret_key=other["AWS_SECRET_ACCESS_KEY"])
    with pytest.raises(SessionError) as missing:
        intruder.run("id")
    assert "does not exist" in str(missing.value)
    assert "ssm-user" in session.run("whoami")
    session.terminate()


def test_the_fleet_commands_work_per_attendee(served, tmp_path):
    """`ssmlab fleet` with an attendee's card sourced builds, grades and keys that attendee's
    fleet only: the next attendee, with the same commands, has none."""
    _, folder, _ = served
    first, second = (room.read_card(folder / room.card_name(n)) for n in (9, 10))

    def fleet(card, *args):
        env = {**shell_env(card, tmp_path), "SSMLAB_PROGRESS": str(tmp_path / "progress.json")}
        return subprocess.run([str(BIN / "ssmlab"), "fleet", *args], env=env, capture_output=True,
                              text=True, timeout=300)

    built = fleet(first, "new", "--seed", "3")
    assert built.returncode == 0, built.stderr
    graded = fleet(first, "grade")
    assert graded.returncode == 1 and graded.stdout.splitlines()[-1] == "0 of 8 fixed acceptably."
    key = fleet(first, "answers")
    assert key.returncode == 0 and key.stdout.startswith("#!/usr/bin/env bash")
    nothing = fleet(second, "grade")
    assert nothing.returncode == 2 and nothing.stderr.startswith("ssmlab: There is no fleet in")
    members = {i["InstanceId"] for r in client(first, "ec2").describe_instances()["Reservations"] for i in r["Instances"]}
    theirs = {i["InstanceId"] for r in client(second, "ec2").describe_instances()["Reservations"] for i in r["Instances"]}
    assert len(members) >= 8 and not members & theirs
