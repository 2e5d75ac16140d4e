"""On a real account the lab acts only on what carries its prefix AND its ssmlab:lab tag.

Every path that changes or deletes something — ``start()`` with its replay (undo and
rebuild), clean-up (``lab.cleanup()`` and ``ssmlab cleanup``), the guard on the lab's
clients that the lessons' boto3 cells and helpers go through, the trust builder's Apply —
is driven against a matrix of look-alikes made by "someone else" in the account, and what
survives is compared with what was there, byte for byte: trust policies, inline policies,
attached policies, tags, instance profiles' roles.

The aws backend against a stand-in account (tests/fault_injection.py); never AWS.
"""

from __future__ import annotations

import json
import types

import pytest
from botocore.exceptions import ClientError

import ssmlab
from fault_injection import account  # noqa: F401
from ssmlab import cli, lab as lab_module, ownership, replay
from ssmlab.errors import LabError
from ssmlab.widgets import TrustPolicyModel

ME = "ssmlab-ada"
ROLE, PROFILE = "ssmlab-ada-role-for-ec2", "ssmlab-ada-for-ec2"
SECOND_ROLE, SECOND_PROFILE = "ssmlab-ada-role-for-ssm", "ssmlab-ada-for-ssm"
CORE = replay.CORE_POLICY
# Someone's own documents, written with their own spacing: they must come back unchanged.
THEIR_TRUST = ('{"Version":"2012-10-17","Statement":[{"Sid":"Theirs","Effect":"Allow",'
               '"Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}')
THEIR_POLICY = ('{"Version":"2012-10-17","Statement":[{"Sid":"KeepMe","Effect":"Allow",'
                '"Action":"s3:GetObject","Resource":"arn:aws:s3:::their-bucket/*"}]}')


def tag(value: str) -> list[dict]:
    return [{"Key": "ssmlab:lab", "Value": value}, {"Key": "owner", "Value": "someone-else"}]


UNTAGGED = [{"Key": "owner", "Value": "someone-else"}]

#: The look-alikes: (row, role, profile, their tags, whether start() must refuse).
MATRIX = [
    ("same name, no tag (the blog's role)", ROLE, PROFILE, UNTAGGED, True),
    ("same name, no tag (lesson 04's role, made after the lab)", SECOND_ROLE, SECOND_PROFILE, UNTAGGED, True),
    ("same name, the tag of another user", ROLE, PROFILE, tag("ssmlab-bob"), True),
    ("the tag of another user whose prefix extends ours", "ssmlab-ada-lovelace-role-for-ec2",
     "ssmlab-ada-lovelace-for-ec2", tag("ssmlab-ada-lovelace"), False),
    ("the prefix without the tag", "ssmlab-ada-role-by-hand", "ssmlab-ada-profile-by-hand", UNTAGGED, False),
    ("our tag value on another prefix", "team7-role-for-ec2", "team7-for-ec2", tag(ME), False),
]
IDS = ["no-tag-ROLE", "no-tag-SECOND_ROLE", "other-user-tag", "longer-prefix-user", "prefix-no-tag",
       "tag-other-prefix"]


def make_lookalike(admin, role: str, profile: str, tags: list[dict]) -> None:
    iam = admin("iam")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=THEIR_TRUST, Tags=tags,
                    Description="made by hand")
    iam.put_role_policy(RoleName=role, PolicyName="their-inline", PolicyDocument=THEIR_POLICY)
    iam.create_instance_profile(InstanceProfileName=profile, Tags=tags)
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)


def snapshot(admin, role: str, profile: str) -> str:
    """Everything about the look-alike, serialised: equal strings, equal resources."""
    iam = admin("iam")
    found = iam.get_role(RoleName=role)["Role"]
    inline = {name: iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
              for name in iam.list_role_policies(RoleName=role)["PolicyNames"]}
    prof = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]
    return json.dumps({
        "role": {"Arn": found["Arn"], "RoleId": found["RoleId"], "Description": found.get("Description"),
                 "trust": found["AssumeRolePolicyDocument"],
                 "tags": iam.list_role_tags(RoleName=role)["Tags"],
                 "inline": inline,
                 "attached": iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]},
        "profile": {"Arn": prof["Arn"], "tags": prof.get("Tags", []),
                    "roles": [r["RoleName"] for r in prof["Roles"]]},
    }, sort_keys=True, default=str)


def assert_theirs(admin, role: str, profile: str, before: str) -> None:
    assert snapshot(admin, role, profile) == before
    # And what they wrote is what IAM still returns (the documents, as sent).
    iam = admin("iam")
    assert iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"] == json.loads(THEIR_TRUST)
    assert iam.get_role_policy(RoleName=role, PolicyName="their-inline")["PolicyDocument"] == json.loads(THEIR_POLICY)
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []


def lab_names_left(admin) -> list[str]:
    iam = admin("iam")
    mine = set(replay.names(types.SimpleNamespace(name=lambda base: f"{ME}-{base}")).values())
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    profiles = [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]]
    return sorted(n for n in roles + profiles if n in mine)


ROWS: dict[str, list[str]] = {}


@pytest.mark.parametrize("row, role, profile, tags, refused", MATRIX, ids=IDS)
def test_every_path_leaves_a_lookalike_as_it_was(account, capsys, row, role, profile, tags, refused):
    admin, faults = account.admin, account.faults
    outcome = []
    if role == SECOND_ROLE:
        ssmlab.start("aws", lesson=7, quiet=True)  # the lab first; the look-alike appears later
    make_lookalike(admin, role, profile, tags)
    before = snapshot(admin, role, profile)

    # 1. start(): replay's rebuild (lesson 7) and undo (lesson 4 after 7).
    for lesson in (7, 4):
        changes = len(faults.actions(mutating=True))
        if refused:
            with pytest.raises(LabError) as refusal:
                ssmlab.start("aws", lesson=lesson, quiet=True)
            message = str(refusal.value)
            assert message.count(". ") == 0 and message.endswith(".")  # one sentence
            assert f"named {role} already exists" in message
            assert "set another SSMLAB_PREFIX" in message and "remove that" in message
            assert len(faults.actions(mutating=True)) == changes  # nothing created, nothing changed
        else:
            ssmlab.start("aws", lesson=lesson, quiet=True)
        assert_theirs(admin, role, profile, before)
    outcome.append("start refused" if refused else "start ran")

    # 2. replay called directly (as if start() had not refused): it asks ownership itself.
    lab = lab_module.start_for_cleanup()
    changes = len(faults.actions(mutating=True))
    if refused:
        with pytest.raises(LabError, match="is not the lab's"):
            replay.rebuild(lab, 7, clear=True)
        assert len(faults.actions(mutating=True)) == changes
    else:
        replay.rebuild(lab, 7, clear=True)
    assert_theirs(admin, role, profile, before)
    outcome.append("replay refused" if refused else "replay ran")

    # 3. The guard on the lab's clients: lesson cells' boto3 calls and the helpers.
    iam = lab.client("iam")
    calls = [
        lambda: iam.update_assume_role_policy(RoleName=role, PolicyDocument=replay.trust_policy(replay.EC2)),
        lambda: iam.attach_role_policy(RoleName=role, PolicyArn=CORE),
        lambda: iam.put_role_policy(RoleName=role, PolicyName="lab", PolicyDocument=THEIR_POLICY),
        lambda: iam.delete_role_policy(RoleName=role, PolicyName="their-inline"),
        lambda: iam.tag_role(RoleName=role, Tags=[{"Key": "ssmlab:lab", "Value": ME}]),
        lambda: iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=role),
        lambda: iam.delete_instance_profile(InstanceProfileName=profile),
        lambda: iam.delete_role(RoleName=role),
    ]
    changes = len(faults.actions(mutating=True))
    for call in calls:
        with pytest.raises(LabError, match="is not the lab's"):
            call()
    assert len(faults.actions(mutating=True)) == changes  # not one reached the account
    assert_theirs(admin, role, profile, before)
    outcome.append(f"{len(calls)} client calls refused")

    # 4. The trust builder's Apply, model and view.
    model = TrustPolicyModel(account_id=lab.account_id, learner_arn=lab.caller_arn, offline=False)
    applied = model.apply(iam, role, lab=lab)
    assert not applied.ok and "is not the lab's" in applied.message
    from ssmlab.widgets import TrustPolicyBuilder

    builder = TrustPolicyBuilder(lab, role=role)
    assert not builder.apply().ok
    assert "is not the lab's" in builder.text()
    assert len(faults.actions(mutating=True)) == changes
    assert_theirs(admin, role, profile, before)
    outcome.append("Apply refused")

    # 5. Clean-up: the lab's method, the command, and (where it is not the facilitator's
    # to remove) --all-users. The lab's own resources go.
    lab.cleanup()
    assert cli.main(["cleanup"]) == 0
    if not tags[0]["Value"].startswith("ssmlab-ada-lovelace"):
        assert cli.main(["cleanup", "--all-users"]) == 0
    assert_theirs(admin, role, profile, before)
    out = capsys.readouterr().out
    assert f"kept role {role}" in out or not role.startswith("ssmlab-")
    left = [n for n in lab_names_left(admin) if n not in (role, profile)]
    assert left == []  # the lab's own are gone
    outcome.append("clean-up kept it")
    ROWS[row] = outcome


def test_print_the_matrix(capsys):
    """Run last (file order): the look-alike matrix and what survived, for the record."""
    if len(ROWS) < len(MATRIX):
        pytest.skip("the matrix runs in the test above; run the whole file to print it")
    with capsys.disabled():
        print("\nlook-alike | paths | survived")
        for row, outcome in ROWS.items():
            print(f"{row} | {'; '.join(outcome)} | role, trust, inline policy, tags, profile: byte-identical")


# ------------------------------------------------------------------------ the prefix


@pytest.mark.parametrize("prefix, says", [
    ("", "is empty"),
    ("   ", "is empty"),
    ("ada", "ending in a hyphen"),
    ("-ada-", "use a letter, then"),
    ("ada_b-", "use a letter, then"),
    ("ada.b-", "use a letter, then"),
    ("é-", "use a letter, then"),
    ("---", "use a letter, then"),
    ("a" * 47 + "-", "over IAM's limit of 64 for a role name: set a shorter SSMLAB_PREFIX"),
])
def test_a_bad_prefix_is_refused_before_anything(account, monkeypatch, prefix, says):
    with pytest.raises(LabError, match=says) as refusal:
        ssmlab.start("aws", lesson=7, prefix=prefix, quiet=True)
    assert str(refusal.value).count(". ") == 0
    assert account.faults.actions() == []  # not even sts:GetCallerIdentity
    monkeypatch.setenv("SSMLAB_PREFIX", prefix)
    if prefix:  # an empty variable means "the default prefix"
        with pytest.raises(LabError, match=says):
            ssmlab.start("aws", quiet=True)
    assert account.faults.actions() == []
    assert ssmlab.current() is None


def test_the_longest_prefix_that_fits_works(account):
    prefix = "a" * (64 - len(replay.LONGEST_BASE) - 1) + "-"
    lab = ssmlab.start("aws", lesson=3, prefix=prefix, quiet=True)
    assert lab.tags == [{"Key": "ssmlab:lab", "Value": prefix[:-1]}]
    assert account.admin("iam").get_role(RoleName=prefix + "role-for-ec2")


def test_offline_nothing_is_refused(lab):
    """Offline the lab owns its fresh account: untagged resources are the lessons' own."""
    iam = lab.client("iam")
    iam.create_role(RoleName="role-for-ec2", AssumeRolePolicyDocument=THEIR_TRUST)
    assert ownership.state(lab, "role", "role-for-ec2") == ownership.FOREIGN  # no tag...
    ownership.require(lab, "role", "role-for-ec2")  # ...and yet not refused offline
    assert ownership.state(lab, "role", "nothing") == ownership.ABSENT
    iam.attach_role_policy(RoleName="role-for-ec2", PolicyArn=CORE)  # no guard offline


def test_a_stack_or_instance_not_the_labs_is_refused(account):
    """The guard covers stacks and instances too (the waits' helpers delete stacks)."""
    from ssmlab import waiting
    from ssmlab.preflight import AMI_PARAMETER

    lab = ssmlab.start("aws", lesson=4, quiet=True)
    admin = account.admin
    template = json.dumps({"Resources": {"Theirs": {"Type": "AWS::S3::Bucket"}}})
    admin("cloudformation").create_stack(StackName="ssmlab-ada-by-hand", TemplateBody=template)
    image = admin("ssm").get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]
    theirs = admin("ec2").run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "ssmlab:lab", "Value": "ssmlab-bob"}]}])
    instance = theirs["Instances"][0]["InstanceId"]
    changes = len(account.faults.actions(mutating=True))
    with pytest.raises(LabError, match="stack named ssmlab-ada-by-hand is not the lab's"):
        waiting.delete_stack(lab, "ssmlab-ada-by-hand")
    with pytest.raises(LabError, match=f"instance {instance} is not the lab's"):
        lab.client("ec2").terminate_instances(InstanceIds=[instance])
    with pytest.raises(LabError, match="is not the lab's"):
        lab.client("ec2").reboot_instances(InstanceIds=[instance])
    assert len(account.faults.actions(mutating=True)) == changes
    assert admin("cloudformation").describe_stacks(StackName="ssmlab-ada-by-hand")["Stacks"][0][
        "StackStatus"] == "CREATE_COMPLETE"
    state = admin("ec2").describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "running"
    # The lab's own are not hindered: its stack's instance reboots, its stack goes.
    stack = lab.client("cloudformation").describe_stacks(StackName="ssmlab-ada-stack-for-ec2")["Stacks"][0]
    lab.client("ec2").reboot_instances(InstanceIds=[stack["Outputs"][0]["OutputValue"]])
    waiting.delete_stack(lab, "ssmlab-ada-stack-for-ec2")


def test_a_missing_resource_is_aws_s_to_answer(account):
    """The guard says nothing about what does not exist: AWS's NoSuchEntity stands."""
    lab = ssmlab.start("aws", quiet=True)
    with pytest.raises(ClientError, match="NoSuchEntity"):
        lab.client("iam").delete_role(RoleName="ssmlab-ada-nothing")


def test_clean_up_takes_a_foreign_role_out_of_the_labs_profile_and_keeps_it(account, capsys):
    """Taking a role out of a profile changes the profile, not the role: the lab's profile
    goes, the hand-made role that someone put in it stays, byte for byte."""
    lab = ssmlab.start("aws", lesson=3, quiet=True)  # the lab's role in the lab's profile
    admin = account.admin
    theirs = "ssmlab-ada-role-by-hand"
    make_lookalike(admin, theirs, "ssmlab-ada-profile-by-hand", UNTAGGED)
    iam = admin("iam")
    iam.remove_role_from_instance_profile(InstanceProfileName=PROFILE, RoleName=ROLE)
    iam.add_role_to_instance_profile(InstanceProfileName=PROFILE, RoleName=theirs)
    before = snapshot(admin, theirs, "ssmlab-ada-profile-by-hand")
    capsys.readouterr()
    report = lab.cleanup()
    out = capsys.readouterr().out
    assert report.ok, out
    assert f"removed role {theirs} from instance profile {PROFILE}" in out
    assert f"deleted instance profile {PROFILE}" in out and f"deleted role {ROLE}" in out
    assert f"kept role {theirs}: no ssmlab:lab tag of this lab" in out
    assert snapshot(admin, theirs, "ssmlab-ada-profile-by-hand") == before
    assert lab_names_left(admin) == []


def test_a_vpc_endpoint_is_the_labs_by_its_name_tag_and_the_labs_tag(account):
    """Endpoints have no name of their own: the Name tag carries the prefix
    (docs/aws-facts.md#endpoint-dependencies). DeleteVpcEndpoints is guarded like a stack's deletion."""
    lab = ssmlab.start("aws", quiet=True)
    ec2 = account.admin("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.5.1.0/24")["Subnet"]["SubnetId"]

    def endpoint(*tags):
        return ec2.create_vpc_endpoint(VpcId=vpc, VpcEndpointType="Interface", SubnetIds=[subnet],
                                       ServiceName="com.amazonaws.eu-west-1.ssm", TagSpecifications=[
                                           {"ResourceType": "vpc-endpoint", "Tags": list(tags)}])["VpcEndpoint"]["VpcEndpointId"]

    ours = endpoint({"Key": "ssmlab:lab", "Value": "ssmlab-ada"}, {"Key": "Name", "Value": "ssmlab-ada-fleet-endpoint-ssm"})
    untagged = endpoint({"Key": "Name", "Value": "ssmlab-ada-fleet-endpoint-ssm"})
    unnamed = endpoint({"Key": "ssmlab:lab", "Value": "ssmlab-ada"})
    assert ownership.state(lab, "vpc endpoint", ours) == ownership.OWNED
    assert ownership.state(lab, "vpc endpoint", untagged) == ownership.FOREIGN
    assert ownership.state(lab, "vpc endpoint", unnamed) == ownership.FOREIGN
    for theirs in (untagged, unnamed):
        with pytest.raises(LabError, match=f"vpc endpoint {theirs} is not the lab's"):
            lab.client("ec2").delete_vpc_endpoints(VpcEndpointIds=[theirs])
    lab.client("ec2").delete_vpc_endpoints(VpcEndpointIds=[ours])
    states = {e["VpcEndpointId"]: e["State"].lower() for e in ec2.describe_vpc_endpoints(
        VpcEndpointIds=[ours, untagged, unnamed])["VpcEndpoints"]}
    assert states == {ours: "deleted", untagged: "available", unnamed: "available"}
    assert ownership.state(lab, "vpc endpoint", ours) == ownership.ABSENT


def test_an_untagged_profile_is_the_labs_only_when_a_lab_stack_made_it(account):
    """AWS::IAM::InstanceProfile takes no Tags: the fleet's stack makes its profiles without
    the lab's tag. CloudFormation records which stack holds each (docs/aws-facts.md#cfn-stack-of-a-resource)."""
    lab = ssmlab.start("aws", quiet=True)
    role = {"RoleName": "ssmlab-ada-r", "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}}
    template = json.dumps({"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": role},
        "Profile": {"Type": "AWS::IAM::InstanceProfile", "Properties": {
            "InstanceProfileName": "ssmlab-ada-in-stack", "Roles": [{"Ref": "Role"}]}}}})
    lab.client("cloudformation").create_stack(StackName="ssmlab-ada-stack", TemplateBody=template,
                                              Capabilities=["CAPABILITY_NAMED_IAM"])
    assert lab.client("iam").get_instance_profile(InstanceProfileName="ssmlab-ada-in-stack")["InstanceProfile"].get(
        "Tags", []) == []
    assert ownership.state(lab, "instance profile", "ssmlab-ada-in-stack") == ownership.OWNED
    # the same in someone else's stack (no lab tag), or made by hand: not the lab's
    account.admin("cloudformation").create_stack(StackName="ssmlab-ada-theirs", Capabilities=["CAPABILITY_NAMED_IAM"],
                                                 TemplateBody=template.replace("ssmlab-ada-in-stack", "ssmlab-ada-their")
                                                 .replace("ssmlab-ada-r", "ssmlab-ada-their-r"))
    account.admin("iam").create_instance_profile(InstanceProfileName="ssmlab-ada-by-hand-profile")
    assert ownership.state(lab, "instance profile", "ssmlab-ada-their") == ownership.FOREIGN
    assert ownership.state(lab, "instance profile", "ssmlab-ada-by-hand-profile") == ownership.FOREIGN
