"""replay.rebuild: the state each lesson starts from, built idempotently through the lab's clients."""

from __future__ import annotations

import json

import pytest

import ssmlab
from ssmlab import LabError, replay


def state(lab) -> dict:
    """What the lessons can see: roles, profiles and their roles, trust, policies, stacks."""
    iam, cfn = lab.client("iam"), lab.client("cloudformation")
    roles = {}
    for role in iam.list_roles()["Roles"]:
        doc = role["AssumeRolePolicyDocument"]
        doc = json.loads(doc) if isinstance(doc, str) else doc
        principal = doc["Statement"][0]["Principal"]
        services = principal.get("Service", principal.get("AWS"))
        roles[role["RoleName"]] = (
            sorted(services if isinstance(services, list) else [services]),
            [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]],
        )
    profiles = {
        p["InstanceProfileName"]: [r["RoleName"] for r in p["Roles"]]
        for p in iam.list_instance_profiles()["InstanceProfiles"]
    }
    stacks = {
        s["StackName"]: s["StackStatus"]
        for s in cfn.list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    }
    return {"roles": roles, "profiles": profiles, "stacks": stacks}


EC2_ONLY = (["ec2.amazonaws.com"], [])
AFTER_02 = {"roles": {"role-for-ec2": EC2_ONLY}, "profiles": {"for-ec2": ["role-for-ec2"]}, "stacks": {}}
AFTER_03 = {**AFTER_02, "stacks": {"stack-for-ec2": "CREATE_COMPLETE"}}
AFTER_05 = {**AFTER_03, "roles": {"role-for-ec2": (["ec2.amazonaws.com", "ssm.amazonaws.com"], [])}}
AFTER_06 = {
    **AFTER_03,
    "roles": {"role-for-ec2": (["ec2.amazonaws.com", "ssm.amazonaws.com"], ["AmazonSSMManagedInstanceCore"])},
}
EMPTY = {"roles": {}, "profiles": {}, "stacks": {}}
EXPECTED = {0: EMPTY, 1: EMPTY, 2: EMPTY, 3: AFTER_02, 4: AFTER_03, 5: AFTER_03, 6: AFTER_05, 7: AFTER_06, 8: AFTER_06}


@pytest.mark.parametrize("lesson", sorted(EXPECTED))
def test_each_lesson_starts_from_what_its_predecessors_left(lab, lesson):
    replay.rebuild(lab, lesson)
    assert state(lab) == EXPECTED[lesson]


def test_the_instance_runs_with_the_profile(lab):
    replay.rebuild(lab, 4)
    ec2 = lab.client("ec2")
    [association] = ec2.describe_iam_instance_profile_associations()["IamInstanceProfileAssociations"]
    assert association["State"] == "associated"
    assert association["IamInstanceProfile"]["Arn"].endswith(":instance-profile/for-ec2")
    instance = ec2.describe_instances(InstanceIds=[association["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert instance["State"]["Name"] == "running"


def test_rebuilding_twice_changes_nothing(lab):
    replay.rebuild(lab, 7)
    first = state(lab)
    replay.rebuild(lab, 7)
    assert state(lab) == first == AFTER_06


def test_clear_takes_an_account_back_to_an_earlier_lesson(lab):
    iam = lab.client("iam")
    replay.rebuild(lab, 7)
    # What lessons 01 and 04 create, as if they had been left half-way.
    for role in ("role-for-me", "demo-role-for-ec2", "role-for-ssm"):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=replay.trust_policy(replay.EC2))
    iam.put_role_policy(
        RoleName="role-for-me",
        PolicyName="read-roles",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"}]}),
    )
    iam.attach_role_policy(RoleName="role-for-ssm", PolicyArn=replay.CORE_POLICY)
    iam.create_instance_profile(InstanceProfileName="for-ssm")
    iam.add_role_to_instance_profile(InstanceProfileName="for-ssm", RoleName="role-for-ssm")

    replay.rebuild(lab, 5, clear=True)
    assert state(lab) == AFTER_03
    replay.rebuild(lab, 1, clear=True)
    assert state(lab) == EMPTY


def test_lesson_04_swap_left_half_done_is_repaired(lab):
    replay.rebuild(lab, 4)
    iam = lab.client("iam")
    iam.create_role(RoleName="role-for-ssm", AssumeRolePolicyDocument=replay.trust_policy(replay.EC2))
    iam.remove_role_from_instance_profile(InstanceProfileName="for-ec2", RoleName="role-for-ec2")
    iam.add_role_to_instance_profile(InstanceProfileName="for-ec2", RoleName="role-for-ssm")
    replay.rebuild(lab, 5)
    assert state(lab) == AFTER_03


class _OnAnAccount:
    """The lab as the replay sees a real account (``offline`` False), against the same endpoint."""

    offline = False

    def __init__(self, lab):
        self._lab = lab

    def __getattr__(self, name):
        return getattr(self._lab, name)


def test_lesson_03_stand_in_left_behind_is_removed_on_an_account(lab):
    replay.rebuild(lab, 4)
    iam = lab.client("iam")
    iam.create_role(RoleName="role-for-restricted-learner", AssumeRolePolicyDocument=replay.trust_policy(replay.EC2), Tags=lab.tags)
    iam.put_role_policy(
        RoleName="role-for-restricted-learner",
        PolicyName="launch-instances",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*"}]}),
    )
    assert "role-for-restricted-learner" in state(lab)["roles"]
    replay._lesson_03(_OnAnAccount(lab), replay.names(lab))  # what start(lesson=4) does on an account
    assert state(lab) == AFTER_03
    iam.create_role(RoleName="role-for-restricted-learner", AssumeRolePolicyDocument=replay.trust_policy(replay.EC2), Tags=lab.tags)
    replay.rebuild(lab, 3, clear=True)  # an account taken back to lesson 03: the stand-in goes too
    assert state(lab) == AFTER_02


@pytest.mark.parametrize("lesson", [-1, 9, 99, "3", 2.0, True, None])
def test_an_unknown_lesson_is_one_plain_sentence(lab, lesson):
    with pytest.raises(LabError) as caught:
        replay.rebuild(lab, lesson)
    message = str(caught.value)
    assert message.startswith("There is no lesson") and "0 to 8" in message
    assert "\n" not in message and message.count(". ") == 0 and message.endswith(".")


def test_start_with_a_lesson_rebuilds(_offline_lab, capsys):
    lab = ssmlab.start(lesson=3)
    assert capsys.readouterr().out == "ssmlab offline lab (moto on loopback): account 123456789012, region us-east-1\n"
    assert state(lab) == AFTER_02
    with pytest.raises(LabError):
        ssmlab.start(lesson=42, quiet=True)
