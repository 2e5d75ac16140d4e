"""The real-account code path under AWS's bad days, without AWS (issue 5 §7).

The ``aws`` backend talks, through ``AWS_ENDPOINT_URL``, to the offline endpoint wrapped
in tests/fault_injection.py: throttling, IAM's eventual consistency (docs/aws-facts.md#core-6), a
stack that rolls back, and a failure after each step of the lessons, each followed by
clean-up. The lessons' steps are replay.rebuild's (the cells' own calls, through
``lab.client``); AWS's pauses are shortened (the fixture), nothing else is changed.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

import ssmlab
from fault_injection import NO_ROLES_MESSAGE, PROPAGATION_MESSAGE, account  # noqa: F401
from ssmlab import replay, templates, waiting
from ssmlab.errors import LabError
from ssmlab.preflight import AMI_PARAMETER

ROLE, PROFILE, STACK = "ssmlab-ada-role-for-ec2", "ssmlab-ada-for-ec2", "ssmlab-ada-stack-for-ec2"
CAPACITY = "We currently do not have sufficient t3.micro capacity in the Availability Zone you requested."


def lab_resources(admin) -> dict[str, list[str]]:
    """Everything named or tagged like the lab's, as anyone in the account would see it."""
    iam, cfn, ec2 = admin("iam"), admin("cloudformation"), admin("ec2")
    return {
        "roles": sorted(r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("ssmlab-")),
        "profiles": sorted(p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]),
        "stacks": sorted(s["StackName"] for s in cfn.describe_stacks()["Stacks"]
                         if s["StackStatus"] != "DELETE_COMPLETE"),
        "instances": sorted(
            i["InstanceId"]
            for r in ec2.describe_instances(Filters=[
                {"Name": "tag-key", "Values": ["ssmlab:lab"]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]
            for i in r["Instances"]
        ),
    }


NOTHING = {"roles": [], "profiles": [], "stacks": [], "instances": []}


def make_bystanders(admin) -> dict:
    """Resources of other people in the account that clean-up must leave alone."""
    iam = admin("iam")
    trust = replay.trust_policy(replay.EC2)
    iam.create_role(RoleName="ssmlab-ada-role-for-ec2-by-hand", AssumeRolePolicyDocument=trust)
    iam.create_instance_profile(InstanceProfileName="ssmlab-ada-for-ec2-by-hand")
    iam.add_role_to_instance_profile(InstanceProfileName="ssmlab-ada-for-ec2-by-hand",
                                     RoleName="ssmlab-ada-role-for-ec2-by-hand")
    ec2 = admin("ec2")
    image = admin("ssm").get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    return {"role": "ssmlab-ada-role-for-ec2-by-hand", "instance": instance}


def assert_bystanders_intact(admin, bystanders) -> None:
    iam = admin("iam")
    assert iam.get_role(RoleName=bystanders["role"])
    profile = iam.get_instance_profile(InstanceProfileName="ssmlab-ada-for-ec2-by-hand")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [bystanders["role"]]
    state = admin("ec2").describe_instances(InstanceIds=[bystanders["instance"]])
    assert state["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"


# ------------------------------------------------------------------ throttling


def test_throttling_is_retried_by_botocore(account):
    faults = account.faults
    # Late in the lessons: after a throttle, adaptive mode also slows the client down.
    # botocore waits up to 2**attempt seconds (random): one throttle each keeps this short.
    faults.throttle("cloudformation", "CreateStack", 1)
    faults.throttle("iam", "AttachRolePolicy", 1)
    lab = ssmlab.start("aws", lesson=7, quiet=True)
    assert faults.actions().count(("cloudformation", "CreateStack")) == 2
    assert faults.actions().count(("iam", "AttachRolePolicy")) == 2
    role = lab.client("iam").list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]
    assert [p["PolicyName"] for p in role] == ["AmazonSSMManagedInstanceCore"]
    faults.throttle("ssm", "DescribeInstanceInformation", 1)  # JSON protocol too
    instance = lab.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"][0]["OutputValue"]
    before = faults.actions().count(("ssm", "DescribeInstanceInformation"))  # replay's own wait (lesson 06)
    assert waiting.wait_for_managed_instance(lab, instance, progress=False)["PingStatus"] == "Online"
    assert faults.actions().count(("ssm", "DescribeInstanceInformation")) - before == 2


# ------------------------------------------------------- IAM eventual consistency


@pytest.mark.parametrize("no_roles", [False, True], ids=["invalid-profile-name", "no-associated-roles"])
def test_run_instances_waits_out_a_new_profile(account, no_roles):
    lab = ssmlab.start("aws", lesson=3, quiet=True)  # role and profile, no stack
    account.faults.profile_not_yet_visible(3, no_roles=no_roles)
    ec2 = lab.client("ec2")
    image = lab.client("ssm").get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                 IamInstanceProfile={"Name": PROFILE})["Instances"][0]
    assert account.faults.actions().count(("ec2", "RunInstances")) == 4
    assert {"Key": "ssmlab:lab", "Value": "ssmlab-ada"} in instance["Tags"]


def test_only_the_two_messages_are_retried_and_not_forever(account):
    lab = ssmlab.start("aws", lesson=3, quiet=True)  # role and profile, no stack
    ec2 = lab.client("ec2")
    image = lab.client("ssm").get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]
    account.faults.fail("ec2", "RunInstances", code="InvalidParameterValue",
                        message="Value (sg-0) for parameter groupId is invalid.")
    with pytest.raises(ClientError, match="groupId is invalid"):
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)
    assert account.faults.actions().count(("ec2", "RunInstances")) == 1

    account.faults.profile_not_yet_visible(100)  # a profile that never appears: a typo
    with pytest.raises(ClientError, match="Invalid IAM Instance Profile name"):
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, IamInstanceProfile={"Name": "typo"})
    assert account.faults.actions().count(("ec2", "RunInstances")) == 1 + waiting.RETRY_ATTEMPTS


def test_a_stack_rolled_back_for_a_new_profile_is_retried(account):
    account.faults.roll_back_stacks(2, PROPAGATION_MESSAGE)
    lab = ssmlab.start("aws", lesson=4, quiet=True)  # the lessons' own steps (replay)
    cfn = lab.client("cloudformation")
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert account.faults.actions().count(("cloudformation", "CreateStack")) == 3

    replay.rebuild(lab, 3)  # and the library's helper, which says why when it gives up
    account.faults.roll_back_stacks(2, NO_ROLES_MESSAGE)
    stack = waiting.create_stack(
        lab, sleep=lambda s: None, StackName=STACK, TemplateBody=templates.EC2_INSTANCE_PROFILE.read_text(),
        Parameters=[{"ParameterKey": "InstanceProfileName", "ParameterValue": PROFILE},
                    {"ParameterKey": "LabTag", "ParameterValue": "ssmlab-ada"}])
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert account.faults.actions().count(("cloudformation", "CreateStack")) == 6


def test_a_stack_that_rolls_back_says_why_and_clean_up_deletes_it(account, capsys):
    lab = ssmlab.start("aws", lesson=3, quiet=True)  # role and profile, no stack
    account.faults.roll_back_stacks(1, CAPACITY)
    with pytest.raises(LabError) as raised:
        waiting.create_stack(
            lab, sleep=lambda s: None, StackName=STACK, TemplateBody=templates.EC2_INSTANCE_PROFILE.read_text(),
            Parameters=[{"ParameterKey": "InstanceProfileName", "ParameterValue": PROFILE},
                        {"ParameterKey": "LabTag", "ParameterValue": "ssmlab-ada"}], Tags=lab.tags)
    assert str(raised.value) == (
        f"Stack {STACK} failed (ROLLBACK_COMPLETE): AWS::EC2::Instance Instance: {CAPACITY}. Read its "
        f"events with `aws cloudformation describe-stack-events --stack-name {STACK}`; `ssmlab cleanup` "
        f"deletes it.")
    assert account.faults.actions().count(("cloudformation", "CreateStack")) == 1  # not retried

    report = lab.cleanup()
    out = capsys.readouterr().out
    assert f"stack {STACK} is ROLLBACK_COMPLETE: AWS::EC2::Instance Instance: {CAPACITY}" in out
    assert f"deleted stack {STACK}" in out and report.ok
    assert lab_resources(account.admin) == NOTHING


# -------------------------------------------- a failure after each step, then clean-up

LESSON_STEPS = [("iam", "CreateRole"), ("iam", "CreateInstanceProfile"), ("iam", "AddRoleToInstanceProfile"),
                ("cloudformation", "CreateStack"), ("iam", "UpdateAssumeRolePolicy"), ("iam", "AttachRolePolicy")]
CLEANUP_STEPS = [("cloudformation", "DeleteStack"), ("iam", "DetachRolePolicy"),
                 ("iam", "RemoveRoleFromInstanceProfile"), ("iam", "DeleteInstanceProfile"), ("iam", "DeleteRole")]


@pytest.mark.parametrize("step", range(len(LESSON_STEPS)), ids=[a for _, a in LESSON_STEPS])
def test_a_failure_at_any_step_then_clean_up_leaves_nothing(account, step, capsys):
    bystanders = make_bystanders(account.admin)
    account.faults.fail(*LESSON_STEPS[step])
    with pytest.raises(ClientError, match="injected failure"):
        ssmlab.start("aws", lesson=7, quiet=True)
    mutations = account.faults.actions(mutating=True)
    assert mutations[-1] == LESSON_STEPS[step]  # the lesson stopped there

    # Clean-up itself fails at one of its steps (when it gets that far), then runs again.
    lab = ssmlab.start("aws", quiet=True)
    account.faults.fail(*CLEANUP_STEPS[step % len(CLEANUP_STEPS)])
    first = lab.cleanup()
    second = lab.cleanup()
    assert second.ok and not second.failed
    assert lab_resources(account.admin) == {
        "roles": ["ssmlab-ada-role-for-ec2-by-hand"], "profiles": ["ssmlab-ada-for-ec2-by-hand"],
        "stacks": [], "instances": []}
    assert_bystanders_intact(account.admin, bystanders)
    if step >= 1:  # something of the lab's existed: the first run removed some of it
        assert first.removed
    third = lab.cleanup()
    assert third.removed == [] and "Nothing of the lab's to remove." in capsys.readouterr().out


# ------------------------------------------------ waiting for Systems Manager (offline)


def instance_of(lab) -> str:
    stack = lab.client("cloudformation").describe_stacks(StackName=lab.name("stack-for-ec2"))["Stacks"][0]
    return stack["Outputs"][0]["OutputValue"]


def test_waiting_for_a_managed_instance_ends_when_it_is_online(lab, capsys):
    replay.rebuild(lab, 7)  # the policy is attached
    found = waiting.wait_for_managed_instance(lab, instance_of(lab))
    assert found["PingStatus"] == "Online" and found["InstanceId"] == instance_of(lab)
    assert f"{instance_of(lab)}: waiting for Systems Manager" in capsys.readouterr().err  # tqdm


def test_a_bounded_wait_says_the_likely_causes_and_what_to_try_next(lab, capsys):
    replay.rebuild(lab, 6)  # before the missing policy: never registers
    instance = instance_of(lab)
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    with pytest.raises(LabError) as raised:
        waiting.wait_for_managed_instance(lab, instance, timeout=120, interval=10,
                                          clock=lambda: now[0], sleep=sleep)
    assert sum(slept) == 120 and len(slept) == 12
    message = str(raised.value)
    assert message.startswith(f"{instance} did not become a managed instance within 2 minute(s). "
                              "Likely causes, from AWS's checklist: its instance profile's role may not "
                              "allow ssm:UpdateInstanceInformation (attach AmazonSSMManagedInstanceCore);")
    assert message.endswith(f"make it retry now with `aws ec2 reboot-instances --instance-ids {instance}`, "
                            "then wait again.")
    assert "120/120 s" in capsys.readouterr().err
