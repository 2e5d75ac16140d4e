"""replay.rebuild: the state each lesson starts from, built idempotently through the lab's clients."""

from __future__ import annotations

import json

import pytest

import ssmlab
from ssmlab import LabError, replay


# What each lesson leaves is checked against the lessons themselves, through
# replay.snapshot, in tests/test_lessons_match_replay.py; here the snapshot of a lab rebuilt
# to a lesson is the expectation.
state = replay.snapshot


def built(lesson: int) -> dict:
    """The snapshot of a fresh offline lab rebuilt to ``lesson`` (the lab is reset)."""
    fresh = ssmlab.start(quiet=True)
    replay.rebuild(fresh, lesson)
    return replay.snapshot(fresh)


def test_each_lesson_adds_what_it_creates(lab):
    # A control that the snapshots differ where the lessons do.
    snapshots = [built(n) for n in range(8)]
    assert snapshots[0] == snapshots[1] == snapshots[2] == {"roles": {}, "profiles": {}, "stacks": {}, "instances": []}
    assert snapshots[3]["profiles"] == {"for-ec2": ["role-for-ec2"]} and snapshots[3]["stacks"] == {}
    assert snapshots[4]["stacks"] == {"stack-for-ec2": "CREATE_COMPLETE"} == snapshots[5]["stacks"]
    assert snapshots[4] == snapshots[5] != snapshots[6] != snapshots[7]


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
    assert state(lab) == first


def test_clear_takes_an_account_back_to_an_earlier_lesson(_offline_lab):
    after_03, empty = built(5), built(1)
    lab = ssmlab.start(quiet=True)
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
    assert _without_instances(state(lab)) == _without_instances(after_03)
    replay.rebuild(lab, 1, clear=True)
    assert _without_instances(state(lab)) == _without_instances(empty)


def _without_instances(snapshot: dict) -> dict:
    # Deleting a stack terminates its instance; rebuilding it launches another (the
    # running set is compared where no stack was deleted in between).
    return {key: value for key, value in snapshot.items() if key != "instances"}


def test_lesson_04_swap_left_half_done_is_repaired(_offline_lab):
    after_03 = built(5)
    lab = ssmlab.start(quiet=True)
    replay.rebuild(lab, 4)
    iam = lab.client("iam")
    iam.create_role(RoleName="role-for-ssm", AssumeRolePolicyDocument=replay.trust_policy(replay.EC2))
    iam.remove_role_from_instance_profile(InstanceProfileName="for-ec2", RoleName="role-for-ec2")
    iam.add_role_to_instance_profile(InstanceProfileName="for-ec2", RoleName="role-for-ssm")
    replay.rebuild(lab, 5)
    assert state(lab) == after_03


class _OnAnAccount:
    """The lab as the replay sees a real account (``offline`` False), against the same endpoint."""

    offline = False

    def __init__(self, lab):
        self._lab = lab

    def __getattr__(self, name):
        return getattr(self._lab, name)


def test_lesson_03_stand_in_left_behind_is_removed_on_an_account(_offline_lab):
    after_02, after_03 = built(3), built(4)
    lab = ssmlab.start(quiet=True)
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
    assert state(lab) == after_03
    iam.create_role(RoleName="role-for-restricted-learner", AssumeRolePolicyDocument=replay.trust_policy(replay.EC2), Tags=lab.tags)
    replay.rebuild(lab, 3, clear=True)  # an account taken back to lesson 03: the stand-in goes too
    assert _without_instances(state(lab)) == _without_instances(after_02)


@pytest.mark.parametrize("lesson", [-1, 9, 99, "3", 2.0, True, None])
def test_an_unknown_lesson_is_one_plain_sentence(lab, lesson):
    with pytest.raises(LabError) as caught:
        replay.rebuild(lab, lesson)
    message = str(caught.value)
    assert message.startswith("There is no lesson") and "0 to 8" in message
    assert "\n" not in message and message.count(". ") == 0 and message.endswith(".")


def test_start_with_a_lesson_rebuilds(_offline_lab, capsys):
    after_02 = built(3)
    capsys.readouterr()
    lab = ssmlab.start(lesson=3)
    assert capsys.readouterr().out == "ssmlab offline lab (moto on loopback): account 123456789012, region us-east-1\n"
    assert state(lab) == after_02
    with pytest.raises(LabError):
        ssmlab.start(lesson=42, quiet=True)


def test_a_rebuild_past_lesson_07_clears_the_journey_and_lesson_08s_control(_offline_lab):
    """Lesson 07 ends with nothing of the journey; lesson 08 makes its own control. On an
    account at the journey's end, or after lesson 08, a rebuild to lesson 08 leaves nothing."""
    empty = built(0)
    lab = ssmlab.start(quiet=True)
    replay.rebuild(lab, 7)
    assert state(lab) != empty
    replay.rebuild(lab, 8, clear=True)
    assert state(lab) == empty
    # Lesson 08's control as the lesson makes it: role, profile, an instance with it.
    n = replay.names(lab)
    iam, ec2, ssm = lab.client("iam"), lab.client("ec2"), lab.client("ssm")
    iam.create_role(RoleName=n["CONTROL_ROLE"], AssumeRolePolicyDocument=replay.trust_policy(replay.EC2), Tags=lab.tags)
    iam.attach_role_policy(RoleName=n["CONTROL_ROLE"], PolicyArn=replay.CORE_POLICY)
    iam.create_instance_profile(InstanceProfileName=n["CONTROL_PROFILE"], Tags=lab.tags)
    iam.add_role_to_instance_profile(InstanceProfileName=n["CONTROL_PROFILE"], RoleName=n["CONTROL_ROLE"])
    ec2.run_instances(
        ImageId=ssm.get_parameter(Name=replay.AMI_PARAMETER)["Parameter"]["Value"], InstanceType="t3.micro",
        MinCount=1, MaxCount=1, IamInstanceProfile={"Name": n["CONTROL_PROFILE"]},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": n["CONTROL"]}, *lab.tags]}])
    made = state(lab)
    assert made["instances"] == [["control", "for-control"]] and made["profiles"] == {"for-control": ["role-for-control"]}
    replay.rebuild(lab, 8, clear=True)
    assert state(lab) == empty
