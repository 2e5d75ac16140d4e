"""Fix the fleet: the draw, the template, the grader, the answer key, each cause's evidence.

Every judgement is read back through public APIs (boto3 against the lab endpoint, the real
``aws`` CLI for the answer key); time passes only through ``lab.wait`` or requests.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import cfnlint.api
import pytest

from fleet_seeds import seed_drawing
from ssmlab import fleet, progress
from ssmlab.errors import LabError
from ssmlab.fleet import causes as catalogue
from ssmlab.simulation import diagnostics

ROOT = Path(__file__).resolve().parent.parent
SEEDS = (3, 7, 11)


@pytest.fixture(autouse=True)
def _progress_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SSMLAB_PROGRESS", str(tmp_path / "progress.json"))


def covering_seeds() -> list[int]:
    """The first seeds whose fleets, together, hold every cause (offline)."""
    seen: set[str] = set()
    seeds = []
    for seed in range(200):
        keys = {c.key for _, c in fleet.draw(seed)}
        if keys - seen:
            seeds.append(seed)
            seen |= keys
        if seen == set(catalogue.BY_KEY):
            return seeds
    raise AssertionError(f"no seed below 200 draws {set(catalogue.BY_KEY) - seen}")


def managed(lab) -> list[str]:
    listing = lab.client("ssm").describe_instance_information()["InstanceInformationList"]
    return [i["InstanceId"] for i in listing if i["PingStatus"] == "Online"]


# --- the catalogue and the draw -----------------------------------------------------------


def test_the_catalogue_covers_the_issues_causes_each_with_its_source():
    assert len(catalogue.CAUSES) >= 10
    keys = set(catalogue.BY_KEY)
    assert {"no-instance-profile", "role-without-policy", "explicit-deny", "permissions-boundary",
            "private-subnet-no-route", "endpoints-without-private-dns", "security-group-egress",
            "network-acl-return-traffic", "refused-then-fixed", "imds-disabled", "profile-without-role",
            "trust-only-ssm", "dhmc-role-without-policy", "agent-stopped", "agent-not-installed"} <= keys
    facts = (ROOT / "docs" / "aws-facts.md").read_text()
    anchors = set(re.findall(r'<a id="([^"]+)"', facts))
    for cause in catalogue.CAUSES:
        assert cause.anchor in anchors, cause.anchor
        assert cause.fix and all(line.startswith("aws ") for line in cause.fix)
        assert cause.hint(1) != cause.hint(2)


@pytest.mark.parametrize("seed", range(25))
def test_a_draw_is_eight_distinct_causes_at_most_one_per_group_and_repeats(seed):
    drawn = fleet.draw(seed)
    assert drawn == fleet.draw(seed)
    keys = [c.key for _, c in drawn]
    assert len(keys) == len(set(keys)) == 8
    groups = [c.group for _, c in drawn if c.group]
    assert len(groups) == len(set(groups))
    assert all(c.real_account for _, c in fleet.draw(seed, real_account=True))


def test_seeds_differ_and_bad_seeds_are_one_sentence():
    assert len({tuple(c.key for _, c in fleet.draw(s)) for s in range(10)}) > 5
    for bad in (-1, "7", 2.5, True):
        with pytest.raises(LabError, match="seed is a whole number"):
            fleet.draw(bad)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_template_is_lint_clean(lab, seed):
    body = json.dumps(fleet.template_for(lab, seed))
    assert [str(m) for m in cfnlint.api.lint(body, regions=["us-east-1", "eu-west-1"])] == []
    assert [str(m) for m in cfnlint.api.lint_all(body) if m.rule.id[0] in "EW"] == []


def test_the_template_is_cheap_and_creates_only_what_the_causes_need(lab):
    for seed in range(40):
        body = fleet.template_for(lab, seed)
        kinds = [r["Type"] for r in body["Resources"].values()]
        keys = {c.key for _, c in fleet.draw(seed)}
        assert "AWS::EC2::NatGateway" not in kinds
        assert {r["Properties"]["InstanceType"] for r in body["Resources"].values()
                if r["Type"] == "AWS::EC2::Instance"} == {"t3.micro"}
        assert ("AWS::EC2::VPCEndpoint" in kinds) == ("endpoints-without-private-dns" in keys)
        assert ("AWS::EC2::NetworkAcl" in kinds) == ("network-acl-return-traffic" in keys)


def test_the_offline_build_makes_what_the_template_names(lab):
    body = fleet.template_for(lab, 7)
    built = fleet.build(lab, 7)
    ec2, iam = lab.client("ec2"), lab.client("iam")
    by_vpc = [{"Name": "vpc-id", "Values": [built.vpc_id]}]
    named = {t["Value"] for kind in ("describe_subnets", "describe_route_tables", "describe_network_acls")
             for r in getattr(ec2, kind)(Filters=by_vpc)[{"describe_subnets": "Subnets", "describe_route_tables":
                                                           "RouteTables", "describe_network_acls": "NetworkAcls"}[kind]]
             for t in r.get("Tags", []) if t["Key"] == "Name"}
    groups = {g["GroupName"] for g in ec2.describe_security_groups(Filters=by_vpc)["SecurityGroups"]}
    for logical_id, resource in body["Resources"].items():
        props = resource["Properties"]
        name = next((t["Value"] for t in props.get("Tags", []) if t["Key"] == "Name"), None)
        if resource["Type"] in ("AWS::EC2::Subnet", "AWS::EC2::RouteTable", "AWS::EC2::NetworkAcl"):
            assert name in named, logical_id
        elif resource["Type"] == "AWS::EC2::SecurityGroup":
            assert props["GroupName"] in groups, logical_id
        elif resource["Type"] == "AWS::IAM::Role":
            role = iam.get_role(RoleName=props["RoleName"])["Role"]
            assert role["AssumeRolePolicyDocument"] == props["AssumeRolePolicyDocument"]
            attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=props["RoleName"])[
                "AttachedPolicies"]]
            member = next((m for m in built.members if m.resources["role"] == props["RoleName"]), None)
            later = [catalogue.CORE] if member and member.cause_key == "refused-then-fixed" else []
            assert sorted(attached) == sorted(props.get("ManagedPolicyArns", []) + later), logical_id
        elif resource["Type"] == "AWS::EC2::Instance":
            member = next(m for m in built.members if name == m.resources["instance_name"])
            instance = ec2.describe_instances(InstanceIds=[member.instance_id])["Reservations"][0]["Instances"][0]
            assert instance["InstanceType"] == props["InstanceType"]
            assert instance["MetadataOptions"]["HttpEndpoint"] == props["MetadataOptions"]["HttpEndpoint"]


# --- building and grading -----------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_a_new_fleet_has_no_instance_managed_and_the_grade_fails(lab, seed):
    built = fleet.build(lab, seed)
    assert len(built.members) == 8
    assert managed(lab) == []
    grades = fleet.grade(lab, built)
    assert [g.passed for g in grades] == [False] * 8
    assert all(g.verdict.startswith("not yet") for g in grades)
    assert not progress.reached(fleet.ALL_FIXED)
    # the cause is not shown unless asked for
    assert not any(m.cause_key in str(built) for m in built.members)
    assert all(m.cause_key in built.show(causes=True) for m in built.members)


def test_the_fleet_is_read_back_from_aws_alone(lab):
    built = fleet.build(lab, 7)
    again = fleet.load(lab)
    assert [(m.name, m.instance_id, m.cause_key) for m in again.members] == [
        (m.name, m.instance_id, m.cause_key) for m in built.members]
    ec2 = lab.client("ec2")
    for member in built.members:
        tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [member.instance_id]}])["Tags"]
        assert {"Key": "ssmlab:fleet-member", "Value": member.name} in [
            {"Key": t["Key"], "Value": t["Value"]} for t in tags]
    with pytest.raises(LabError, match="already has a fleet"):
        fleet.build(lab, 8)


def test_no_fleet_yet_is_one_sentence(lab):
    with pytest.raises(LabError, match="There is no fleet"):
        fleet.load(lab)


@pytest.mark.parametrize("seed", SEEDS)
def test_administrator_access_on_every_role_does_not_pass(lab, seed):
    built = fleet.build(lab, seed)
    iam = lab.client("iam")
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("fleet-")]
    assert roles
    for role in roles:
        iam.attach_role_policy(RoleName=role, PolicyArn=catalogue.ADMIN_POLICY)
    lab.client("ec2").reboot_instances(InstanceIds=[m.instance_id for m in built.members])
    lab.wait(minutes=61)
    grades = fleet.grade(lab, built)
    assert not any(g.passed for g in grades)
    online = [g for g in grades if g.fixed]
    assert online, "AdministratorAccess brings the IAM causes Online"
    for g in online:
        assert "AdministratorAccess" in g.verdict and g.verdict.startswith("Online, but not acceptable")


def _run_answers(lab, script: str, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "answers.sh"
    path.write_text(script)
    return subprocess.run(["bash", str(path)], env=lab.env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_answer_key_run_with_the_aws_cli_fixes_every_instance(lab, seed, tmp_path):
    built = fleet.build(lab, seed)
    script = fleet.answers(built)
    # Without the closing reboot: the agents find the fixes by themselves, in time.
    without_reboot = script.rsplit("aws ec2 reboot-instances", 1)[0]
    result = _run_answers(lab, without_reboot, tmp_path)
    assert result.returncode == 0, result.stderr
    lab.wait(minutes=61)
    grades = fleet.grade(lab, built)
    assert [g.line() for g in grades if not g.passed] == []
    assert sorted(managed(lab)) == sorted(m.instance_id for m in built.members)
    assert progress.reached(fleet.ALL_FIXED)
    assert all(progress.reached(f"fleet-{m.name}-fixed") for m in built.members)


def test_the_answer_keys_reboot_makes_the_agents_retry_at_once(lab, tmp_path):
    built = fleet.build(lab, 5)
    result = _run_answers(lab, fleet.answers(built), tmp_path)
    assert result.returncode == 0, result.stderr
    lab.wait(seconds=5)
    assert all(g.passed for g in fleet.grade(lab, built))


def test_an_instance_deleted_and_relaunched_is_named_not_acceptable(lab, tmp_path):
    built = fleet.build(lab, 3)
    _run_answers(lab, fleet.answers(built), tmp_path)
    victim = built.members[0]
    ec2 = lab.client("ec2")
    old = ec2.describe_instances(InstanceIds=[victim.instance_id])["Reservations"][0]["Instances"][0]
    ec2.terminate_instances(InstanceIds=[victim.instance_id])
    new = ec2.run_instances(
        ImageId=old["ImageId"], InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=old["SubnetId"],
        TagSpecifications=[{"ResourceType": "instance", "Tags": old["Tags"]}])["Instances"][0]["InstanceId"]
    lab.wait(seconds=5)
    judged = fleet.grade(lab, built)[0]
    assert not judged.passed and not judged.acceptable
    assert victim.instance_id in judged.verdict and new in judged.verdict and "deleted" in judged.verdict


def _member_with(lab, cause_key: str):
    """A fleet holding ``cause_key``, and its member with that cause."""
    built = fleet.build(lab, seed_drawing(cause_key))
    return built, next(m for m in built.members if m.cause_key == cause_key)


def _graded_after_reboot(lab, built, member):
    lab.client("ec2").reboot_instances(InstanceIds=[member.instance_id])
    lab.wait(seconds=5)
    return next(g for g in fleet.grade(lab, built) if g.name == member.name)


def test_a_security_group_open_on_all_ports_is_not_acceptable(lab):
    built, member = _member_with(lab, "security-group-egress")
    lab.client("ec2").authorize_security_group_egress(GroupId=member.resources["security_group"], IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    judged = _graded_after_reboot(lab, built, member)
    assert judged.fixed and not judged.passed
    assert "open on all ports outbound" in judged.verdict


def test_an_inline_policy_allowing_every_action_is_not_acceptable(lab):
    built, member = _member_with(lab, "role-without-policy")
    lab.client("iam").put_role_policy(RoleName=member.resources["role"], PolicyName="everything", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    judged = _graded_after_reboot(lab, built, member)
    assert judged.fixed and not judged.passed
    assert '"Action": "*"' in judged.verdict


def test_the_deprecated_policy_as_a_fix_is_named_not_acceptable(lab):
    built, member = _member_with(lab, "role-without-policy")
    lab.client("iam").attach_role_policy(RoleName=member.resources["role"], PolicyArn=catalogue.DEPRECATED_POLICY)
    judged = _graded_after_reboot(lab, built, member)
    # Its document allows the agent's calls, ssmmessages included (docs/aws-facts.md#fleet-deprecated-policy).
    assert judged.fixed and not judged.passed
    assert "AmazonEC2RoleforSSM, which AWS deprecated" in judged.verdict


def test_hints_narrow_then_name_and_refuse_bad_input(lab):
    built = fleet.build(lab, 7)
    for member in built.members:
        first, second = fleet.hint(lab, built, member.name, 1), fleet.hint(lab, built, member.name, 2)
        assert first == member.cause.hint(1) and second == member.cause.hint(2) and first != second
    with pytest.raises(LabError, match="level is 1"):
        fleet.hint(lab, built, "node-01", 3)
    with pytest.raises(LabError, match="no member 'node-99'"):
        fleet.hint(lab, built, "node-99", 1)


# --- each cause, through public APIs, the diagnostics and the agent log ---------------------

#: cause -> (what a public API shows, the failed ssm-cli check, a line of the agent's log)
EVIDENCE = {
    "no-instance-profile": ("no-profile", "AWS Credentials", "no EC2 instance role found"),
    # Credentials are handed out (ssm-cli's check passes); UpdateInstanceInformation is refused.
    "role-without-policy": ("no-policies", None,
                            "because no identity-based policy allows the ssm:UpdateInstanceInformation action"),
    "explicit-deny": ("deny-inline", None, "with an explicit deny in an identity-based policy"),
    "permissions-boundary": ("boundary", None,
                             "because no permissions boundary allows the ssm:UpdateInstanceInformation action"),
    "trust-only-ssm": ("trust-ssm", "AWS Credentials", "AssumeRoleUnauthorizedAccess: EC2 cannot assume the role"),
    "profile-without-role": ("empty-profile", "AWS Credentials", "no EC2 instance role found"),
    "imds-disabled": ("imds-off", "EC2 IMDS", "failed to get identity"),
    "private-subnet-no-route": ("no-route", "Connectivity to ssm endpoint", '/": dial tcp 203.0.113.'),
    "endpoints-without-private-dns": ("endpoints-no-dns", "Connectivity to ssm endpoint", '/": dial tcp 203.0.113.'),
    "security-group-egress": ("sg-80", "Connectivity to ssm endpoint", '/": dial tcp 203.0.113.'),
    "network-acl-return-traffic": ("acl-443-only", "Connectivity to ssm endpoint", '/": dial tcp 203.0.113.'),
    # After the refusal: the refresher's long sleep, or (when Default Host Management is on
    # in the Region, with a role that may not register) the worker's hibernation.
    "agent-stopped": ("user-data-stops", "Agent service", "[amazon-ssm-agent] Stopping Core Agent"),
    "refused-then-fixed": ("core-attached", None, ("Sleeping for 2", "Entering SSM Agent Worker hibernate")),
    "dhmc-role-without-policy": ("dhmc-on", None, "Entering SSM Agent Worker hibernate - AccessDeniedException"),
    # No agent, so no ssm-cli and no log: what the instance shows is bash's answer.
    "agent-not-installed": ("debian-image", None, "sudo: ssm-cli: command not found"),
}


def _public_evidence(lab, member, kind: str) -> bool:  # noqa: C901 - one branch per cause
    ec2, iam, ssm = lab.client("ec2"), lab.client("iam"), lab.client("ssm")
    instance = ec2.describe_instances(InstanceIds=[member.instance_id])["Reservations"][0]["Instances"][0]
    role = member.resources["role"]
    if kind in ("no-profile", "dhmc-on") and "IamInstanceProfile" in instance:
        return False
    if kind == "no-profile":
        return ssm.get_service_setting(SettingId=fleet.DHMC_SETTING)["ServiceSetting"]["SettingValue"] == "$None"
    if kind == "dhmc-on":
        value = ssm.get_service_setting(SettingId=fleet.DHMC_SETTING)["ServiceSetting"]["SettingValue"]
        return iam.list_attached_role_policies(RoleName=value)["AttachedPolicies"] == []
    if kind == "no-policies":
        return iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    if kind == "core-attached":
        return [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]] == [
            catalogue.CORE]
    if kind == "deny-inline":
        return iam.get_role_policy(RoleName=role, PolicyName="deny-agent")["PolicyDocument"]["Statement"][0][
            "Effect"] == "Deny"
    if kind == "boundary":
        return "PermissionsBoundary" in iam.get_role(RoleName=role)["Role"]
    if kind == "trust-ssm":
        trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        return trust["Statement"][0]["Principal"] == {"Service": "ssm.amazonaws.com"}
    if kind == "empty-profile":
        return iam.get_instance_profile(InstanceProfileName=member.resources["profile"])["InstanceProfile"]["Roles"] == []
    if kind == "user-data-stops":
        encoded = ec2.describe_instance_attribute(InstanceId=member.instance_id, Attribute="userData")["UserData"]
        return "systemctl stop amazon-ssm-agent" in base64.b64decode(encoded["Value"]).decode()
    if kind == "debian-image":
        image = ec2.describe_images(ImageIds=[instance["ImageId"]])["Images"][0]
        return image["Name"].startswith("debian-12-amd64-") and image["OwnerId"] == "136693071363"
    if kind == "imds-off":
        return instance["MetadataOptions"]["HttpEndpoint"] == "disabled"
    if kind in ("no-route", "endpoints-no-dns"):
        tables = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [instance["SubnetId"]]}])
        routes = [r.get("DestinationCidrBlock") for t in tables["RouteTables"] for r in t["Routes"]]
        endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [instance["VpcId"]]}])["VpcEndpoints"]
        if "0.0.0.0/0" in routes or "PublicIpAddress" in instance:
            return False
        if kind == "no-route":
            return endpoints == []
        return len(endpoints) == 3 and not any(e["PrivateDnsEnabled"] for e in endpoints)
    if kind == "sg-80":
        group = ec2.describe_security_groups(GroupIds=[g["GroupId"] for g in instance["SecurityGroups"]])
        egress = group["SecurityGroups"][0]["IpPermissionsEgress"]
        return [(p["IpProtocol"], p.get("FromPort")) for p in egress] == [("tcp", 80)]
    if kind == "acl-443-only":
        acl = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [instance["SubnetId"]]}])
        inbound = [e for e in acl["NetworkAcls"][0]["Entries"] if not e["Egress"] and e["RuleAction"] == "allow"]
        return [(e["PortRange"]["From"], e["PortRange"]["To"]) for e in inbound] == [(443, 443)]
    raise AssertionError(kind)


@pytest.mark.parametrize("seed", covering_seeds())
def test_each_cause_shows_in_public_apis_the_diagnostics_and_the_agent_log(lab, seed):
    built = fleet.build(lab, seed)
    lab.wait(seconds=30)
    for member in built.members:
        kind, failed_check, log_line = EVIDENCE[member.cause_key]
        assert _public_evidence(lab, member, kind), (member.cause_key, kind)
        text = diagnostics.diagnose(lab.account_id, lab.region, member.instance_id)
        assert "is NOT registered with Systems Manager" in text, member.cause_key
        lines = (log_line,) if isinstance(log_line, str) else log_line
        assert any(line in text for line in lines), (member.cause_key, text[-3000:])
        if failed_check:
            row = next(line for line in text.splitlines() if line.startswith(f"│ {failed_check} "))
            assert "│ Failed " in row, (member.cause_key, row)


def test_the_agent_honours_the_network_acl_order_and_the_security_groups_destination(lab):
    built = fleet.build(lab, seed_drawing("network-acl-return-traffic", "security-group-egress"))
    ec2 = lab.client("ec2")
    acl_member = next(m for m in built.members if m.cause_key == "network-acl-return-traffic")
    sg_member = next(m for m in built.members if m.cause_key == "security-group-egress")
    acl = acl_member.resources["network_acl"]
    # A deny numbered before the allow wins: still dropped.
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=105, Protocol="6", RuleAction="deny", Egress=False,
                                 CidrBlock="0.0.0.0/0", PortRange={"From": 1024, "To": 65535})
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=110, Protocol="6", RuleAction="allow", Egress=False,
                                 CidrBlock="0.0.0.0/0", PortRange={"From": 1024, "To": 65535})
    # 443 out, but only to the VPC: not to Systems Manager's public addresses.
    ec2.authorize_security_group_egress(GroupId=sg_member.resources["security_group"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.42.0.0/16"}]}])
    ec2.reboot_instances(InstanceIds=[acl_member.instance_id, sg_member.instance_id])
    lab.wait(seconds=5)
    for member, reason in ((acl_member, "rule 105 denies it"), (sg_member, "allows no outbound TCP 443")):
        assert member.instance_id not in managed(lab)
        assert reason in diagnostics.diagnose(lab.account_id, lab.region, member.instance_id)
    ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=105, Egress=False)
    ec2.authorize_security_group_egress(GroupId=sg_member.resources["security_group"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.reboot_instances(InstanceIds=[acl_member.instance_id, sg_member.instance_id])
    lab.wait(seconds=5)
    assert {acl_member.instance_id, sg_member.instance_id} <= set(managed(lab))
