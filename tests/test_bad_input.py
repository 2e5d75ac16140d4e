"""Bad input, catalogued: every case is answered by LabError (one sentence: what is wrong,
what to do), AWS's own error (botocore's ClientError), a checker's Feedback, or, for the
``ssmlab`` command, one line on stderr and exit status 2 -- never another exception, never
a traceback, and a refused start leaves no lab running.

``CATALOGUE`` lists the cases; ``test_the_catalogue_counts`` prints the counts by kind.
The checkers are also given generated input (hypothesis): any JSON value, any string,
any bytes, None.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat
import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings, strategies as st

import ssmlab
from ssmlab import checks, checks_ssm, cli
from ssmlab import lab as lab_module
from ssmlab.checks import Feedback
from ssmlab.errors import LabError

ROLE, PROFILE, NEW_ROLE = "role-for-ec2", "for-ec2", "role-for-ssm"
ME = "arn:aws:iam::123456789012:user/learner"
EC2_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def deep(n: int) -> str:
    return "[" * n + "]" * n


@dataclass
class Case:
    name: str
    run: Callable  # (context) -> result; context has .lab, .tmp, .monkeypatch
    kind: str  # "LabError", "AWS error", "Feedback", "command: one sentence", "command: usage",
    # "doctor: FAIL line"
    needs_lab: bool = False  # a running offline lab
    refused_start: bool = False  # a start() that must leave no lab running


CATALOGUE: list[Case] = []


def case(name, kind, *, needs_lab=False, refused_start=False):
    def register(function):
        CATALOGUE.append(Case(name, function, kind, needs_lab, refused_start))
        return function
    return register


def add(name, kind, function, **flags):
    case(name, kind, **flags)(function)


# ------------------------------------------------------------------ library: start()

for label, call in [
    ("start(5)", lambda c: ssmlab.start(5, quiet=True)),
    ("start('nope')", lambda c: ssmlab.start("nope", quiet=True)),
    ("start(['offline'])", lambda c: ssmlab.start(["offline"], quiet=True)),
    ("start(lesson=99)", lambda c: ssmlab.start(lesson=99, quiet=True)),
    ("start(lesson=-1)", lambda c: ssmlab.start(lesson=-1, quiet=True)),
    ("start(lesson='3')", lambda c: ssmlab.start(lesson="3", quiet=True)),
    ("start(lesson=True)", lambda c: ssmlab.start(lesson=True, quiet=True)),
    ("start(lesson=2.0)", lambda c: ssmlab.start(lesson=2.0, quiet=True)),
    ("start(region='xx-nowhere-1')", lambda c: ssmlab.start(region="xx-nowhere-1", quiet=True)),
    ("start(region='')", lambda c: ssmlab.start(region="", quiet=True)),
    ("start(region=5)", lambda c: ssmlab.start(region=5, quiet=True)),
    ("start(region='cn-north-1') offline", lambda c: ssmlab.start(region="cn-north-1", quiet=True)),
    ("start(region='US-EAST-1')", lambda c: ssmlab.start(region="US-EAST-1", quiet=True)),
    ("start(seed='x')", lambda c: ssmlab.start(seed="x", quiet=True)),
    ("start(seed=1.5)", lambda c: ssmlab.start(seed=1.5, quiet=True)),
    ("start(port=99999)", lambda c: ssmlab.start(port=99999, quiet=True)),
    ("start(port=-1)", lambda c: ssmlab.start(port=-1, quiet=True)),
    ("start(port='80')", lambda c: ssmlab.start(port="80", quiet=True)),
    ("start(prefix=5)", lambda c: ssmlab.start(prefix=5, quiet=True)),
    ("start(language='fr')", lambda c: ssmlab.start(language="fr", quiet=True)),
]:
    add(label, "LabError", call, refused_start=True)


@case("SSMLAB_BACKEND=bogus", "LabError", refused_start=True)
def _(c):
    c.monkeypatch.setenv("SSMLAB_BACKEND", "bogus")
    return ssmlab.start(quiet=True)


@case("aws backend with AWS_PROFILE=nope", "LabError", refused_start=True)
def _(c):
    c.monkeypatch.setenv("AWS_PROFILE", "nope")
    c.monkeypatch.setenv("AWS_CONFIG_FILE", str(c.tmp / "no-config"))
    c.monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(c.tmp / "no-credentials"))
    return ssmlab.start("aws", quiet=True)


@case("aws backend, region='xx-nowhere-1'", "LabError", refused_start=True)
def _(c):
    return ssmlab.start("aws", region="xx-nowhere-1", quiet=True)


@case("doctor --aws with AWS_PROFILE=nope: a FAIL line, NO-GO", "doctor: FAIL line")
def _(c):
    c.monkeypatch.setenv("AWS_PROFILE", "nope")
    c.monkeypatch.setenv("AWS_CONFIG_FILE", str(c.tmp / "none"))
    c.monkeypatch.setenv("SSMLAB_AWS_ACCOUNT", "210987654321")
    lines = []
    from ssmlab import preflight

    go = preflight.run(lines.append)
    assert not go and lines[0].startswith("FAIL  credentials: AWS_PROFILE names the profile 'nope'"), lines
    return Feedback(False, lines[0])  # the doctor's own verdict line


@case("aws backend without SSMLAB_AWS_ACCOUNT", "LabError", refused_start=True)
def _(c):
    c.monkeypatch.delenv("SSMLAB_AWS_ACCOUNT", raising=False)
    c.monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    c.monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    c.monkeypatch.setenv("AWS_REGION", "us-east-1")
    return ssmlab.start("aws", quiet=True)


# ---------------------------------------------------------- library: a lab, misused

add("lab.client('nope')", "LabError", lambda c: c.lab.client("nope"), needs_lab=True)
add("lab.client(5)", "LabError", lambda c: c.lab.client(5), needs_lab=True)
add("lab.client('IAM')", "LabError", lambda c: c.lab.client("IAM"), needs_lab=True)


@case("a lab client after stop()", "LabError", needs_lab=True)
def _(c):
    iam = c.lab.client("iam")
    ssmlab.stop()
    return iam.list_roles()


@case("boto3.client made during the lab, after stop()'s restart elsewhere", "LabError", needs_lab=True)
def _(c):
    sts = c.lab.client("sts")
    ssmlab.stop()
    ssmlab.start(quiet=True)  # a new server on another port: the old lab's clients are done
    return sts.get_caller_identity()


@case("a lab client after its server died", "LabError", needs_lab=True)
def _(c):
    lab_module._endpoint._server.shutdown()
    lab_module._endpoint._server.server_close()
    return c.lab.client("iam").list_roles()


@case("a client made before start()", "LabError", needs_lab=True)
def _(c):
    import boto3

    ssmlab.stop()
    early = boto3.client("iam", region_name="us-east-1", endpoint_url="https://iam.example.com",
                         aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x")
    ssmlab.start(quiet=True)
    return early.list_roles()


@case("lab.diagnose on a real-account lab", "LabError", needs_lab=True)
def _(c):
    import dataclasses

    return dataclasses.replace(c.lab, backend="aws").diagnose("i-0abc")


# ------------------------------------------- notebook misuse: AWS's own error answers

add("lesson 04 before lesson 02: add a role to a missing profile", "AWS error",
    lambda c: c.lab.client("iam").add_role_to_instance_profile(InstanceProfileName=PROFILE, RoleName=ROLE),
    needs_lab=True)
add("lesson 06 before lesson 02: attach a policy to a missing role", "AWS error",
    lambda c: c.lab.client("iam").attach_role_policy(
        RoleName=ROLE, PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"), needs_lab=True)
add("lesson 03's stack read before lesson 03", "AWS error",
    lambda c: c.lab.client("cloudformation").describe_stacks(StackName="stack-for-ec2"), needs_lab=True)
add("lesson 05's update-assume-role-policy without the role", "AWS error",
    lambda c: c.lab.client("iam").update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(EC2_TRUST)),
    needs_lab=True)
add("create the role twice (a lesson run twice by hand)", "AWS error",
    lambda c: [c.lab.client("iam").create_role(RoleName="twice", AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
               for _ in range(2)], needs_lab=True)
add("create-role with a malformed trust policy", "AWS error",
    lambda c: c.lab.client("iam").create_role(RoleName="bad", AssumeRolePolicyDocument="{"), needs_lab=True)
add("assume the EC2 role yourself (lesson 01)", "AWS error",
    lambda c: (c.lab.client("iam").create_role(RoleName="ec2-only", AssumeRolePolicyDocument=json.dumps(EC2_TRUST)),
               c.lab.client("sts").assume_role(RoleArn="arn:aws:iam::123456789012:role/ec2-only",
                                               RoleSessionName="me")), needs_lab=True)
add("send-command to an instance that does not exist", "AWS error",
    lambda c: c.lab.client("ssm").send_command(InstanceIds=["i-0123456789abcdef0"],
                                               DocumentName="AWS-RunShellScript",
                                               Parameters={"commands": ["whoami"]}), needs_lab=True)
add("a second role in the profile (lesson 04's LimitExceeded)", "AWS error",
    lambda c: (ssmlab.start(lesson=3, quiet=True),
               c.lab.client("iam").create_role(RoleName=NEW_ROLE, AssumeRolePolicyDocument=json.dumps(EC2_TRUST)),
               ssmlab.current().client("iam").add_role_to_instance_profile(
                   InstanceProfileName=PROFILE, RoleName=NEW_ROLE)), needs_lab=True)

# ------------------------------------------------------------------- the checkers

for label, call in [
    ("check_trust_policy(None)", lambda c: checks.check_trust_policy(None)),
    ("check_trust_policy(5)", lambda c: checks.check_trust_policy(5)),
    ("check_trust_policy([])", lambda c: checks.check_trust_policy([])),
    ("check_trust_policy non-UTF-8 bytes", lambda c: checks.check_trust_policy(b"\xff\xfe{")),
    ("check_trust_policy deeply nested JSON", lambda c: checks.check_trust_policy(deep(100000))),
    ("check_trust_policy single quotes", lambda c: checks.check_trust_policy("{'Version': '2012-10-17'}")),
    ("check_trust_policy Statement a string", lambda c: checks.check_trust_policy(
        {"Version": "2012-10-17", "Statement": "x"})),
    ("check_trust_policy Principal a list", lambda c: checks.check_trust_policy(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": ["x"], "Action": "sts:AssumeRole"}]})),
    ("check_trust_policy Effect a list", lambda c: checks.check_trust_policy(
        {"Version": "2012-10-17", "Statement": [{"Effect": ["Allow"], "Principal": "*", "Action": "sts:AssumeRole"}]})),
    ("check_trust_policy Version a list", lambda c: checks.check_trust_policy({"Version": [1], "Statement": []})),
    ("check_trust_policy Deny of EC2 beside the Allow", lambda c: checks.check_trust_policy(
        {"Version": "2012-10-17", "Statement": [EC2_TRUST["Statement"][0],
                                                dict(EC2_TRUST["Statement"][0], Effect="Deny")]})),
    ("check_trust_policy Deny of * beside the Allow", lambda c: checks.check_trust_policy(
        {"Version": "2012-10-17", "Statement": [EC2_TRUST["Statement"][0],
                                                {"Effect": "Deny", "Principal": "*", "Action": "sts:*"}]})),
    ("check_trust_policy for me, Ellipsis", lambda c: checks.check_trust_policy(..., for_principal=ME)),
    ("check_identity_arn(None)", lambda c: checks.check_identity_arn(None, expected=ME)),
    ("check_identity_arn(b'\\xff')", lambda c: checks.check_identity_arn(b"\xff", expected=ME)),
    ("check_identity_arn({})", lambda c: checks.check_identity_arn({}, expected=ME)),
    ("check_instance_template(None)", lambda c: checks.check_instance_template(None)),
    ("check_instance_template Resources a list", lambda c: checks.check_instance_template("Resources: [1, 2]")),
    ("check_instance_template Properties a list", lambda c: checks.check_instance_template(
        {"Resources": {"I": {"Type": "AWS::EC2::Instance", "Properties": [1]}}})),
    ("check_instance_template MetadataOptions a string", lambda c: checks.check_instance_template(
        {"Resources": {"I": {"Type": "AWS::EC2::Instance", "Properties": {
            "IamInstanceProfile": "p", "MetadataOptions": "required"}}}})),
    ("check_instance_template ImageId Ref a list", lambda c: checks.check_instance_template(
        {"Parameters": [], "Resources": {"I": {"Type": "AWS::EC2::Instance", "Properties": {
            "IamInstanceProfile": "p", "MetadataOptions": {"HttpTokens": "required"}, "ImageId": {"Ref": ["x"]}}}}})),
    ("check_instance_template non-UTF-8 bytes", lambda c: checks.check_instance_template(b"\xff\xfe")),
    ("check_instance_template unknown YAML tag", lambda c: checks.check_instance_template("a: !Bogus [")),
    ("check_instance_template(5)", lambda c: checks.check_instance_template(5)),
    ("check_role_swap unbalanced quote", lambda c: checks.check_role_swap(
        "aws iam remove-role-from-instance-profile --role-name 'x", profile=PROFILE, old_role=ROLE, new_role=NEW_ROLE)),
    ("check_role_swap(None)", lambda c: checks.check_role_swap(None, profile=PROFILE, old_role=ROLE, new_role=NEW_ROLE)),
    ("check_role_swap(5)", lambda c: checks.check_role_swap(5, profile=PROFILE, old_role=ROLE, new_role=NEW_ROLE)),
    ("check_role_swap([None, 3])", lambda c: checks.check_role_swap([None, 3], profile=PROFILE, old_role=ROLE,
                                                                      new_role=NEW_ROLE)),
    ("check_role_swap bytes", lambda c: checks.check_role_swap(b"\xffaws iam", profile=PROFILE, old_role=ROLE,
                                                                new_role=NEW_ROLE)),
    ("check_imds_commands(5)", lambda c: checks_ssm.check_imds_commands(5)),
    ("check_imds_commands(None)", lambda c: checks_ssm.check_imds_commands(None)),
    ("check_imds_commands({})", lambda c: checks_ssm.check_imds_commands({"a": 1})),
    ("check_imds_commands unbalanced quote", lambda c: checks_ssm.check_imds_commands(["curl 'http://169.254.169.254"])),
    ("check_denied_call(None, None, None)", lambda c: checks_ssm.check_denied_call(None, None, None, role=ROLE,
                                                                                  instance_id="i-0abc")),
    ("check_denied_call([1], {}, 5)", lambda c: checks_ssm.check_denied_call([1], {}, 5, role=ROLE,
                                                                           instance_id="i-0abc")),
    ("check_minimal_trust_policy non-UTF-8 bytes", lambda c: checks_ssm.check_minimal_trust_policy(b"\xff")),
    ("check_minimal_trust_policy(None)", lambda c: checks_ssm.check_minimal_trust_policy(None)),
    ("check_registration_policy non-UTF-8 bytes", lambda c: checks_ssm.check_registration_policy(b"\xff{")),
    ("check_registration_policy deeply nested JSON", lambda c: checks_ssm.check_registration_policy(deep(100000))),
    ("check_registration_policy Statement a number", lambda c: checks_ssm.check_registration_policy(
        {"Version": "2012-10-17", "Statement": 5})),
    ("check_registration_policy Action a dict", lambda c: checks_ssm.check_registration_policy(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": {"a": 1}, "Resource": "*"}]})),
]:
    add(label, "Feedback", call)

# ------------------------------------------------------------- the ssmlab command


def write(c, name: str, text: str) -> str:
    path = c.tmp / name
    path.write_text(text)
    return str(path)


V3 = '{"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}'
for label, argv in [
    ("serve --port 99999", lambda c: ["serve", "--port", "99999"]),
    ("serve --port -5", lambda c: ["serve", "--port", "-5"]),
    ("serve --region bogus-1", lambda c: ["serve", "--region", "bogus-1"]),
    ("serve --region cn-north-1", lambda c: ["serve", "--region", "cn-north-1"]),
    ("scrub []", lambda c: ["scrub", write(c, "list.ipynb", "[]")]),
    ("scrub {}", lambda c: ["scrub", write(c, "empty.ipynb", "{}")]),
    ("scrub a v3 notebook", lambda c: ["scrub", write(c, "v3.ipynb", V3)]),
    ("scrub a Python file", lambda c: ["scrub", write(c, "x.py", "print(1)\n")]),
    ("scrub a missing file", lambda c: ["scrub", str(c.tmp / "missing.ipynb")]),
    ("scrub a folder", lambda c: ["scrub", str(c.tmp)]),
    ("scrub --check on {}", lambda c: ["scrub", "--check", write(c, "e.ipynb", "{}")]),
    ("diagnose with no lab to ask", lambda c: (ssmlab.stop(), c.monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False),
                                               ["diagnose", "i-0abc"])[-1]),
    ("diagnose --endpoint at a closed port", lambda c: (ssmlab.stop(), ["diagnose", "--endpoint",
                                                                       "http://127.0.0.1:9", "i-0abc"])[-1]),
    ("cleanup with AWS_PROFILE=nope", lambda c: (
        c.monkeypatch.setenv("AWS_PROFILE", "nope"),
        c.monkeypatch.setenv("AWS_CONFIG_FILE", str(c.tmp / "none")),
        c.monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(c.tmp / "none")), ["cleanup"])[-1]),
    ("cleanup --region xx-nowhere-1", lambda c: ["cleanup", "--region", "xx-nowhere-1"]),
    ("diagnose with AWS_PROFILE=nope and no lab", lambda c: (
        ssmlab.stop(), c.monkeypatch.setenv("AWS_PROFILE", "nope"),
        c.monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False), ["diagnose", "i-0abc"])[-1]),
]:
    add(label, "command: one sentence", argv)

for label, argv in [
    ("serve --port abc", lambda c: ["serve", "--port", "abc"]),
    ("serve --seed x", lambda c: ["serve", "--seed", "x"]),
    ("scrub with no notebook", lambda c: ["scrub"]),
    ("an unknown subcommand", lambda c: ["fly"]),
    ("no subcommand", lambda c: []),
    ("diagnose without an instance id", lambda c: ["diagnose"]),
    ("cleanup --bogus", lambda c: ["cleanup", "--bogus"]),
]:
    add(label, "command: usage", argv)

# The workshop's commands: the board outside a hub, progress files that are not.
for label, argv in [
    ("board outside a hub", lambda c: ["board"]),
    ("progress import with no file", lambda c: ["progress", "import"]),
    ("progress import a missing file", lambda c: ["progress", "import", str(c.tmp / "missing.json")]),
    ("progress import a list", lambda c: ["progress", "import", write(c, "list.json", "[1]")]),
    ("progress import a notebook", lambda c: ["progress", "import", write(c, "nb.json", V3)]),
    ("progress report outside a hub", lambda c: ["progress", "report"]),
]:
    add(label, "command: one sentence", argv)
add("progress with an unknown action", "command: usage", lambda c: ["progress", "share"])


# ------------------------------------------------------------------------ running


class Context:
    def __init__(self, lab, tmp, monkeypatch):
        self.lab, self.tmp, self.monkeypatch = lab, tmp, monkeypatch


def one_sentence(text: str) -> bool:
    return "\n" not in text.strip() and "Traceback" not in text and len(text) < 400 and bool(text.strip())


@pytest.fixture
def context(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield Context(None, tmp_path, monkeypatch)
    ssmlab.stop()  # give the environment back before monkeypatch undoes its changes


@pytest.mark.parametrize("entry", CATALOGUE, ids=[c.name for c in CATALOGUE])
def test_bad_input_is_answered_clearly(entry: Case, context, capsys):
    if entry.needs_lab:
        context.lab = ssmlab.start(quiet=True)
    else:
        ssmlab.stop()
    if entry.kind.startswith("command"):
        try:
            code = cli.main(entry.run(context))
        except SystemExit as exit_:  # argparse's usage error
            code = exit_.code
            assert entry.kind == "command: usage", capsys.readouterr().err
            err = capsys.readouterr().err
            assert code == 2 and err.startswith("usage: ") and "error: " in err and "Traceback" not in err
            return
        assert entry.kind == "command: one sentence"
        err = capsys.readouterr().err
        assert code == 2, err
        assert one_sentence(err), err
        assert re.match(r"ssmlab( diagnose)?: ", err), err
        return
    if entry.kind in ("Feedback", "doctor: FAIL line"):
        result = entry.run(context)
        assert isinstance(result, Feedback)
        assert not result.ok, result
        assert one_sentence(result.message), result
        return
    expected = LabError if entry.kind == "LabError" else ClientError
    with pytest.raises(expected) as raised:
        entry.run(context)
    if expected is LabError:
        assert one_sentence(str(raised.value)), raised.value
        assert str(raised.value).rstrip().endswith((".", ")")), raised.value
    else:
        error = raised.value.response["Error"]
        assert error["Code"] and error["Message"], error
    if entry.refused_start:
        assert ssmlab.current() is None and lab_module._endpoint is None, "a refused start left a lab running"


def test_the_catalogue_counts(capsys):
    kinds = Counter(c.kind for c in CATALOGUE)
    assert len(CATALOGUE) >= 80, len(CATALOGUE)
    assert len({c.name for c in CATALOGUE}) == len(CATALOGUE)
    with capsys.disabled():
        print(f"\nbad-input catalogue: {len(CATALOGUE)} tried; by kind: "
              + ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())))


# ------------------------------------------------------------ refused starts, precisely


def test_start_lesson_99_refuses_before_starting_anything():
    ssmlab.stop()
    with pytest.raises(LabError, match=r"There is no lesson 99: use a lesson number from 0 to 8"):
        ssmlab.start(lesson=99, quiet=True)
    assert ssmlab.current() is None and lab_module._endpoint is None


def test_a_failing_rebuild_leaves_no_lab_running(monkeypatch):
    from ssmlab import replay

    def broken(lab, lesson, **_):
        raise LabError("The rebuild failed on purpose.")

    monkeypatch.setattr(replay, "rebuild", broken)
    with pytest.raises(LabError):
        ssmlab.start(lesson=3, quiet=True)
    assert ssmlab.current() is None and lab_module._endpoint is None


@pytest.mark.parametrize("region", ["xx-nowhere-1", "bogus-1"])
def test_a_bad_region_names_good_ones(region):
    with pytest.raises(LabError, match=rf"Region '{region}' is not a Region of the offline lab .*us-east-1"):
        ssmlab.start(region=region, quiet=True)


def test_a_stale_profile_on_the_aws_backend_is_one_sentence(monkeypatch, tmp_path):
    ssmlab.stop()
    monkeypatch.setenv("AWS_PROFILE", "nope")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    with pytest.raises(LabError) as raised:
        ssmlab.start("aws", quiet=True)
    assert str(raised.value).startswith("AWS_PROFILE names the profile 'nope', which is not in your AWS config")


# ---------------------------------------------------- checkers judge as IAM does


def test_deny_wins_in_the_trust_checker():
    allow = EC2_TRUST["Statement"][0]
    verdict = checks.check_trust_policy({"Version": "2012-10-17", "Statement": [allow, dict(allow, Effect="Deny")]})
    assert not verdict.ok and "explicit Deny wins" in verdict.message
    assert checks.trust_decision({"Statement": [allow]}, "ec2.amazonaws.com") == "allow"
    assert checks.trust_decision({"Statement": [allow, dict(allow, Effect="Deny")]}, "ec2.amazonaws.com") == "deny"
    assert checks.trust_decision({"Statement": [allow]}, ME) == "neutral"
    # A Deny of another principal leaves EC2 trusted.
    other = {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::123456789012:user/eve"}, "Action": "sts:AssumeRole"}
    assert checks.check_trust_policy({"Version": "2012-10-17", "Statement": [allow, other]}).ok


def test_lesson_01s_checker_claims_no_more_than_it_checked():
    both = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ME}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    verdict = checks.check_trust_policy(both, for_principal=ME)
    assert "nobody else" not in verdict.message
    assert "ec2.amazonaws.com" in verdict.message
    alone = {"Version": "2012-10-17", "Statement": both["Statement"][:1]}
    assert str(checks.check_trust_policy(alone, for_principal=ME)) == (
        f"✓ Correct: {ME} may assume the role, and nobody else.")


# ------------------------------------------------------------- checkers, any input

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
policy_like = st.fixed_dictionaries({
    "Version": st.sampled_from(["2012-10-17", "2008-10-17", 1]),
    "Statement": st.lists(st.fixed_dictionaries({}, optional={
        "Effect": st.sampled_from(["Allow", "Deny", "allow", 5]),
        "Principal": st.one_of(st.just("*"), json_values, st.fixed_dictionaries({}, optional={
            "Service": st.sampled_from(["ec2.amazonaws.com", "ssm.amazonaws.com", ["ec2.amazonaws.com"], 3]),
            "AWS": st.sampled_from([ME, "*", [ME, 1]])})),
        "Action": st.sampled_from(["sts:AssumeRole", "sts:*", "*", ["ssm:*"], {"a": 1}, None]),
        "Resource": st.just("*"),
        "Condition": json_values,
    }), max_size=3) | json_values,
})
anything = st.one_of(json_values, policy_like, st.text(), st.binary(), st.none(),
                     policy_like.map(json.dumps), policy_like.map(lambda p: json.dumps(p).encode()))

CHECKERS = [
    lambda x: checks.check_trust_policy(x),
    lambda x: checks.check_trust_policy(x, for_principal=ME),
    lambda x: checks.check_identity_arn(x, expected=ME),
    lambda x: checks.check_instance_template(x),
    lambda x: checks.check_role_swap(x, profile=PROFILE, old_role=ROLE, new_role=NEW_ROLE),
    lambda x: checks_ssm.check_denied_call(x, x, x, role=ROLE, instance_id="i-0abc"),
    lambda x: checks_ssm.check_imds_commands(x),
    lambda x: checks_ssm.check_minimal_trust_policy(x),
    lambda x: checks_ssm.check_registration_policy(x),
]


@settings(max_examples=150, deadline=None)
@given(value=anything, which=st.integers(0, len(CHECKERS) - 1))
def test_every_checker_returns_feedback_for_any_input(value, which):
    result = CHECKERS[which](value)
    assert isinstance(result, Feedback)
    assert isinstance(result.message, str) and result.message


@settings(max_examples=100, deadline=None)
@given(policy=policy_like)
def test_a_trust_policy_with_a_matching_deny_is_never_correct(policy):
    verdict = checks.check_trust_policy(policy)
    if verdict.ok:
        assert checks.trust_decision(policy, "ec2.amazonaws.com") == "allow"


# ------------------------------------------------ the files the lessons write


def test_every_file_a_lesson_writes_is_listed():
    from ssmlab.lesson_files import LESSON_FILES

    written = set()
    for path in sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            written.update(re.findall(r"^%%writefile\s+(\S+)", cell.source, re.M))
            written.update(re.findall(r"open\(\s*[\"']([^\"']+)[\"']\s*,\s*[\"']w", cell.source))
    assert written, "no lesson writes a file? the patterns above are stale"
    assert written == set(LESSON_FILES)


def test_lab_cleanup_removes_the_lesson_files(tmp_path, monkeypatch, capsys):
    from ssmlab.lesson_files import LESSON_FILES

    monkeypatch.chdir(tmp_path)
    (tmp_path / "00-welcome.ipynb").write_text("{}")
    (tmp_path / "mine.json").write_text("{}")
    for name in LESSON_FILES:
        (tmp_path / name).write_text("{}")
    lab = ssmlab.start(quiet=True)
    lab.cleanup(dry_run=True)
    assert all((tmp_path / name).exists() for name in LESSON_FILES)
    assert "Would remove the lesson file assume-role-policy.json" in capsys.readouterr().out
    lab.cleanup()
    assert not any((tmp_path / name).exists() for name in LESSON_FILES)
    assert (tmp_path / "mine.json").exists() and (tmp_path / "00-welcome.ipynb").exists()
    assert "Removed the lesson file trust-ec2-only.json" in capsys.readouterr().out


def test_lab_cleanup_leaves_files_outside_a_lesson_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "assume-role-policy.json").write_text("{}")
    ssmlab.start(quiet=True).cleanup()
    assert (tmp_path / "assume-role-policy.json").exists()


def test_a_port_in_use_refuses_the_start_and_gives_everything_back():
    import os
    import socket

    ssmlab.stop()
    before = dict(os.environ)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(LabError, match=rf"^Port {port} on 127.0.0.1 is already in use"):
            ssmlab.start(port=port, quiet=True)
    assert ssmlab.current() is None and lab_module._endpoint is None
    assert dict(os.environ) == before
