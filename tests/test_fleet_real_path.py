"""The fleet on the ``aws`` backend, end to end against the stand-in account (issue 12 §4).

The stand-in is tests/fault_injection.py's: the offline endpoint reached exactly as a real
account is, through the credential chain and ``AWS_ENDPOINT_URL``, with
``SSMLAB_AWS_ACCOUNT`` confirming it. So ``fleet.build`` takes its real-account path: the
CloudFormation stack ``lab.name("fleet")`` (moto's CloudFormation as ssmlab corrects it,
ssmlab/simulation/cfn_corrections.py), the answer key runs with the real ``aws`` CLI, and
``ssmlab cleanup`` must remove the stack and everything the fleet made, and nothing else.

Time: on a real account ``lab.wait`` sleeps; here each of its seconds moves the stand-in's
clock one second instead (the agents' first attempts, their back-off), so nothing sleeps.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import ssmlab
from fault_injection import account  # noqa: F401 - the stand-in account fixture
from fleet_seeds import seed_drawing
from ssmlab import fleet, lab as lab_module, waiting
from ssmlab.fleet import causes as catalogue
from ssmlab.simulation.clock import CLOCK

BIN = Path(sys.executable).parent
STACK = "ssmlab-ada-fleet"
TAG = {"Key": "ssmlab:lab", "Value": "ssmlab-ada"}


SEED = seed_drawing("private-subnet-no-route", real_account=True)  # the answer key adds endpoints to the fleet's VPC


@pytest.fixture
def real(account, monkeypatch, tmp_path):  # noqa: F811
    """The stand-in, a learner's key, the aws backend; lab.wait moves the stand-in's clock."""
    key = account.endpoint.create_learner("ada")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.setenv("SSMLAB_PROGRESS", str(tmp_path / "progress.json"))
    original = lab_module.RealClock.__init__
    monkeypatch.setattr(lab_module.RealClock, "__init__", lambda self, sleep=None: original(self, sleep=CLOCK.advance))
    lab = ssmlab.start("aws", quiet=True)
    assert not lab.offline and lab.prefix == "ssmlab-ada-"
    return account, lab


def lookalikes(admin) -> dict:
    """Someone else's resources named like the fleet's, without the lab's tag."""
    iam, ec2 = admin("iam"), admin("ec2")
    iam.create_role(RoleName="ssmlab-ada-fleet-node-09-role", AssumeRolePolicyDocument=catalogue.EC2_TRUST)
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "ssmlab-ada-fleet-vpc"}]}])["Vpc"]["VpcId"]
    return {"role": "ssmlab-ada-fleet-node-09-role", "vpc": vpc}


def assert_lookalikes_intact(admin, found: dict) -> None:
    assert admin("iam").get_role(RoleName=found["role"])["Role"]["RoleName"] == found["role"]
    assert [v["VpcId"] for v in admin("ec2").describe_vpcs(VpcIds=[found["vpc"]])["Vpcs"]] == [found["vpc"]]


def fleet_left(admin, vpc: str) -> dict:
    """What the fleet made that anyone in the account still sees."""
    iam, ec2 = admin("iam"), admin("ec2")
    return {
        "stacks": [s["StackName"] for s in admin("cloudformation").describe_stacks()["Stacks"]
                   if s["StackStatus"] != "DELETE_COMPLETE"],
        "vpc": [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v["VpcId"] == vpc],
        "instances": [i["InstanceId"] for r in ec2.describe_instances(Filters=[
            {"Name": "tag-key", "Values": ["ssmlab:fleet-member"]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])["Reservations"]
            for i in r["Instances"]],
        "roles": [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("ssmlab-ada-fleet-")
                  and r["RoleName"] != "ssmlab-ada-fleet-node-09-role"],
        "profiles": [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]
                     if p["InstanceProfileName"].startswith("ssmlab-ada-fleet-")],
        "policies": [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]
                     if p["PolicyName"].startswith("ssmlab-ada-fleet-")],
        "endpoints": [e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
                      if e["VpcId"] == vpc and e.get("State", "").lower() != "deleted"],
    }


def run_answers(lab, built) -> None:
    script = fleet.answers(built)
    ran = subprocess.run(["bash", "-c", script], env=lab.env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr


def test_the_fleet_on_a_real_account_builds_grades_and_cleans_up(real):
    account, lab = real
    found = lookalikes(account.admin)
    built = fleet.build(lab, SEED)
    cfn = account.admin("cloudformation")
    [stack] = cfn.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert TAG in stack["Tags"] and {"Key": "ssmlab:fleet-seed", "Value": str(SEED)} in stack["Tags"]
    resources = {r["LogicalResourceId"]: r for r in cfn.describe_stack_resources(StackName=STACK)["StackResources"]}
    assert resources["Vpc"]["PhysicalResourceId"] == built.vpc_id
    assert {m.instance_id for m in built.members} == {
        r["PhysicalResourceId"] for r in resources.values() if r["ResourceType"] == "AWS::EC2::Instance"}
    # Every instance is tagged like every lab resource, and named with the prefix.
    ec2 = account.admin("ec2")
    for reservation in ec2.describe_instances(InstanceIds=[m.instance_id for m in built.members])["Reservations"]:
        for instance in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
            assert tags["ssmlab:lab"] == "ssmlab-ada" and tags["Name"].startswith("ssmlab-ada-fleet-node-0")
            assert tags["aws:cloudformation:stack-name"] == STACK

    grades = fleet.grade(lab, built)
    assert len(grades) == fleet.SIZE and not any(g.passed for g in grades)
    # A terminal's view of the same account, its own process: the stack's instance profiles
    # carry no tags (CloudFormation's type takes none), yet start() knows them as the lab's.
    graded = fleet_cli("--aws", "grade")
    assert graded.returncode == 1, graded.stderr
    assert graded.stdout.splitlines()[-1] == f"0 of {fleet.SIZE} fixed acceptably."

    run_answers(lab, built)
    # The answer key's endpoints are the lab's: tagged, and named with the prefix.
    added = [e for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [built.vpc_id]}])["VpcEndpoints"]
             if not any(t["Key"] == "aws:cloudformation:stack-name" for t in e.get("Tags", []))]
    assert len(added) == len(catalogue.ENDPOINT_SERVICES)
    for endpoint in added:
        tags = {t["Key"]: t["Value"] for t in endpoint["Tags"]}
        assert tags["ssmlab:lab"] == "ssmlab-ada" and tags["Name"].startswith("ssmlab-ada-fleet-endpoint-")
    for member in built.members:  # the clock-aware wait: registration after the reboot
        assert waiting.wait_for_managed_instance(lab, member.instance_id, progress=False)["PingStatus"] == "Online"
    grades = fleet.grade(lab, built)
    assert all(g.passed for g in grades), "\n".join(g.line() for g in grades)

    report = lab.cleanup()
    assert report.ok, report.failed
    assert f"delete stack {STACK}" in report.removed
    assert sorted(r for r in report.removed if r.startswith("delete VPC endpoint")) == sorted(
        f"delete VPC endpoint {e['VpcEndpointId']}" for e in added)
    assert fleet_left(account.admin, built.vpc_id) == {
        "stacks": [], "vpc": [], "instances": [], "roles": [], "profiles": [], "policies": [], "endpoints": []}
    assert_lookalikes_intact(account.admin, found)


def test_an_endpoint_that_is_not_the_labs_blocks_the_stack_and_is_named(real, capsys):
    account, lab = real
    built = fleet.build(lab, SEED)
    ec2, cfn = account.admin("ec2"), account.admin("cloudformation")
    subnet = built.members[0].resources["subnet"]
    # someone else's endpoint in the fleet's private subnet: no lab tag
    theirs = ec2.create_vpc_endpoint(VpcId=built.vpc_id, VpcEndpointType="Interface", SubnetIds=[subnet],
                                     ServiceName=f"com.amazonaws.{lab.region}.ssm")["VpcEndpoint"]["VpcEndpointId"]
    # A deletion tried before fails as on AWS: the endpoint holds the subnet and the VPC.
    cfn.delete_stack(StackName=STACK)
    [stack] = cfn.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "DELETE_FAILED"
    assert stack["StackStatusReason"].startswith("The following resource(s) failed to delete: [")
    failed = {e["LogicalResourceId"]: e["ResourceStatusReason"] for e in cfn.describe_stack_events(StackName=STACK)[
        "StackEvents"] if e["ResourceStatus"] == "DELETE_FAILED"}
    assert {"PrivateSubnet", "Vpc"} <= set(failed)
    assert failed["PrivateSubnet"].startswith(f"The subnet '{subnet}' has dependencies and cannot be deleted.")

    capsys.readouterr()
    report = lab.cleanup()
    said = capsys.readouterr().out
    assert not report.ok
    [line] = [line for line in said.splitlines() if line.startswith(f"stack {STACK} was not deleted")]
    assert theirs in line and f"aws ec2 delete-vpc-endpoints --vpc-endpoint-ids {theirs}" in line
    assert [e["State"] for e in ec2.describe_vpc_endpoints(VpcEndpointIds=[theirs])["VpcEndpoints"]] == ["available"]
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "DELETE_FAILED"
    left = fleet_left(account.admin, built.vpc_id)
    assert left["instances"] == [] and left["vpc"] == [built.vpc_id]  # nothing left running meanwhile
    assert not [line for line in said.splitlines() if line.startswith("kept")]  # nothing of the lab's is "kept"

    ec2.delete_vpc_endpoints(VpcEndpointIds=[theirs])  # its owner removes it: the next clean-up retries
    report = lab.cleanup()
    assert report.ok, report.failed
    assert fleet_left(account.admin, built.vpc_id)["stacks"] == []
    assert fleet_left(account.admin, built.vpc_id)["vpc"] == []


def fleet_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "ssmlab"), "fleet", *args], env=dict(os.environ), capture_output=True,
                          text=True, timeout=300)


def test_aws_refusals_are_printed_as_aws_says_them(account):  # noqa: F811
    # A wrong key (a room's, or a real account's): STS answers, and says no.
    account.faults.fail("sts", "GetCallerIdentity", code="InvalidClientTokenId",
                        message="The security token included in the request is invalid.")
    refused = fleet_cli("grade")
    assert refused.returncode == 2
    assert refused.stderr == ("ssmlab: An error occurred (InvalidClientTokenId) when calling the GetCallerIdentity "
                              "operation: The security token included in the request is invalid.\n")
    # A call the caller may not make, after the lab answered.
    account.faults.fail("ec2", "DescribeVpcs", code="UnauthorizedOperation",
                        message="You are not authorized to perform this operation.")
    denied = fleet_cli("show")
    assert denied.returncode == 2 and denied.stderr.count("\n") == 1
    assert "(UnauthorizedOperation) when calling the DescribeVpcs operation: You are not authorized" in denied.stderr
    assert "does not answer" not in refused.stderr + denied.stderr
    calls = account.faults.actions()  # both refusals came from the stand-in, as from AWS
    assert ("sts", "GetCallerIdentity") in calls and ("ec2", "DescribeVpcs") in calls
