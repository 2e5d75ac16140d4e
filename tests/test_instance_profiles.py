"""Instance profile vs its association: snapshots from the lab, the map and the before/after table."""

from __future__ import annotations

import pytest

import ssmlab
from ssmlab import instance_profiles as ip
from ssmlab.replay import EC2, names, trust_policy


def _instance(lab) -> str:
    stack = lab.client("cloudformation").describe_stacks(StackName=names(lab)["STACK"])["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["InstanceId"]


@pytest.fixture
def at_04(_offline_lab):
    return ssmlab.start(lesson=4, quiet=True)


def test_snapshot_reads_profile_roles_and_the_association(at_04):
    n, instance = names(at_04), _instance(at_04)
    snap = ip.snapshot(at_04, [n["PROFILE"], n["SECOND_PROFILE"]], [instance])
    assert snap.profiles == ((n["PROFILE"], (n["ROLE"],)),)  # for-ssm does not exist: left out
    (association,) = snap.associations
    ec2 = at_04.client("ec2")
    answer = ec2.describe_iam_instance_profile_associations()["IamInstanceProfileAssociations"][0]
    assert association == ip.Association(instance, answer["AssociationId"], n["PROFILE"], "associated")
    assert snap.association_of(instance) is association and snap.roles_in("nope") is None


def test_swapping_the_role_changes_the_profile_not_the_association(at_04):
    n, instance = names(at_04), _instance(at_04)
    iam = at_04.client("iam")
    before = ip.snapshot(at_04, [n["PROFILE"]], [instance])
    iam.create_role(RoleName=n["SECOND_ROLE"], AssumeRolePolicyDocument=trust_policy(EC2))
    iam.remove_role_from_instance_profile(InstanceProfileName=n["PROFILE"], RoleName=n["ROLE"])
    iam.add_role_to_instance_profile(InstanceProfileName=n["PROFILE"], RoleName=n["SECOND_ROLE"])
    after = ip.snapshot(at_04, [n["PROFILE"]], [instance])
    table = ip.render_change(before, after).splitlines()
    changed = [line for line in table if "CHANGED" in line]
    assert len(changed) == 1 and "for-ec2 holds role" in changed[0] and "role-for-ssm" in changed[0]
    assert sum("same" in line for line in table) == 3
    assert all(line.isascii() for line in table)
    assert ip.render_map(after).splitlines()[1].endswith("--> role-for-ssm")


def test_replacing_the_association_changes_the_association_not_the_profile(at_04):
    n, instance = names(at_04), _instance(at_04)
    iam, ec2 = at_04.client("iam"), at_04.client("ec2")
    iam.create_role(RoleName=n["SECOND_ROLE"], AssumeRolePolicyDocument=trust_policy(EC2))
    iam.create_instance_profile(InstanceProfileName=n["SECOND_PROFILE"])
    iam.add_role_to_instance_profile(InstanceProfileName=n["SECOND_PROFILE"], RoleName=n["SECOND_ROLE"])
    before = ip.snapshot(at_04, [n["PROFILE"], n["SECOND_PROFILE"]], [instance])
    old = before.association_of(instance).association_id
    ec2.replace_iam_instance_profile_association(
        AssociationId=old, IamInstanceProfile={"Name": n["SECOND_PROFILE"]}
    )
    after = ip.snapshot(at_04, [n["PROFILE"], n["SECOND_PROFILE"]], [instance])
    changed = [line for line in ip.render_change(before, after).splitlines() if "CHANGED" in line]
    assert any(" profile " in line and n["SECOND_PROFILE"] in line for line in changed)
    assert not any("holds role" in line for line in changed)  # no profile's role changed
    picture = ip.render_map(after)
    assert f"{n['SECOND_PROFILE']}" in picture and "(no instance)" in picture  # for-ec2 is now unused


def test_render_is_pure_and_handles_empty_and_missing():
    empty = ip.Snapshot(profiles=(), associations=())
    assert ip.render_map(empty) == "(no instance profile and no association)"
    one = ip.Snapshot(profiles=(("p", ()),), associations=())
    assert "(no role)" in ip.render_map(one)
    table = ip.render_change(empty, one)
    assert "(no such profile)" in table and "CHANGED" in table
