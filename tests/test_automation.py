"""The runbook AWSSupport-TroubleshootManagedInstance on the lab endpoint, through boto3
and the real aws CLI (docs/aws-facts.md#the-troubleshooting-runbook)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from ssmlab.simulation import automation
from test_agent import CORE, launch, make_profile, private_subnet

RUNBOOK = "AWSSupport-TroubleshootManagedInstance"


def run_runbook(lab, instance_id: str) -> dict:
    """Start the runbook, let it finish in lab time, return GetAutomationExecution's answer."""
    ssm = lab.client("ssm")
    execution_id = ssm.start_automation_execution(DocumentName=RUNBOOK, Parameters={"InstanceId": [instance_id]})[
        "AutomationExecutionId"
    ]
    lab.wait(minutes=1)
    return ssm.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]


def report(execution: dict) -> str:
    return next(s for s in execution["StepExecutions"] if s["StepName"] == "FinalOutput")["Outputs"]["Message"][0]


def names(execution: dict) -> list[str]:
    return [s["StepName"] for s in execution["StepExecutions"]]


# --- paths through the runbook ----------------------------------------------------------


def test_a_managed_instance_takes_the_short_path(lab):
    make_profile(lab)
    instance = launch(lab)
    execution = run_runbook(lab, instance)
    assert execution["AutomationExecutionStatus"] == "Success"
    assert names(execution) == ["GetPingStatus", "BranchOnIsInstanceManaged", "FinalOutput"]
    assert execution["StepExecutions"][0]["Outputs"] == {"PingStatus": ["Online"]}
    assert report(execution) == automation.MANAGED_MESSAGE
    assert execution["Outputs"] == {"FinalOutput.Message": [automation.MANAGED_MESSAGE]}


def test_an_instance_without_a_profile_is_checked_step_by_step_in_lab_time(lab):
    ssm = lab.client("ssm")
    instance = launch(lab, profile=None)
    execution_id = ssm.start_automation_execution(DocumentName=RUNBOOK, Parameters={"InstanceId": [instance]})[
        "AutomationExecutionId"
    ]
    running = ssm.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]
    assert running["AutomationExecutionStatus"] == "InProgress"
    assert "ExecutionEndTime" not in running and running["CurrentStepName"] == running["StepExecutions"][-1]["StepName"]
    assert running["Outputs"] == {}
    lab.wait(minutes=1)
    done = ssm.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]
    assert done["AutomationExecutionStatus"] == "Success" and done["ExecutionEndTime"] > done["ExecutionStartTime"]
    assert names(done) == [
        "GetPingStatus", "BranchOnIsInstanceManaged", "GetInstanceProperties", "checkVpcEndpoint", "checkRouteTable",
        "checkNACL", "checkInstanceSecurityGroup", "checkInstanceIAM", "BranchOnPlatform", "SSMAgentToolkitLinux",
        "FinalOutput",
    ]
    assert all(s["StepStatus"] == "Success" for s in done["StepExecutions"])
    assert [s["Action"] for s in done["StepExecutions"]][:3] == ["aws:executeScript", "aws:branch", "aws:executeAwsApi"]
    text = report(done)
    assert text.startswith(f"1. Checks for Amazon VPC Systems Manager VPC Endpoint 'com.amazonaws.{lab.region}.ssm':")
    assert "- [INFO] Default Host Management Configuration is Default." in text
    assert f"- [ERROR] No EC2 instance IAM profile attached to the instance: '{instance}'." in text
    assert "6. Additional Troubleshooting:" in text


def test_the_iam_check_reads_policy_names_only(lab):
    """A role with the managed policy passes the runbook's check even when an inline Deny
    keeps the agent out: the runbook does not evaluate policies (the agent log does)."""
    iam = lab.client("iam")
    make_profile(lab)
    iam.put_role_policy(RoleName="role-for-ec2", PolicyName="deny-agent", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "ssm:UpdateInstanceInformation", "Resource": "*"}],
    }))
    instance = launch(lab)
    text = report(run_runbook(lab, instance))
    assert "- [OK] Found an AWS managed policy attached to the instance profile 'for-ec2' with required permissions." in text
    assert lab.client("ssm").describe_instance_information()["InstanceInformationList"] == []


def test_a_role_without_policies_and_one_with_an_inline_policy(lab):
    iam = lab.client("iam")
    make_profile(lab, policies=())
    instance = launch(lab)
    text = report(run_runbook(lab, instance))
    assert "- [INFO] Not found an AWS managed policy attached to the instance profile 'for-ec2' with required permissions." in text
    assert "- [ERROR] No permissions found attached to the EC2 instance profile 'for-ec2'." in text
    iam.put_role_policy(RoleName="role-for-ec2", PolicyName="agent", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ssm:UpdateInstanceInformation", "Resource": "*"}],
    }))
    text = report(run_runbook(lab, instance))
    assert ("- [INFO] Found inline policies attached to the instance profile 'for-ec2'. Make sure the policies grant "
            "the required minimum permissions.") in text


def test_a_private_subnet_without_route_or_endpoint(lab):
    make_profile(lab)
    vpc, subnet, table = private_subnet(lab)
    instance = launch(lab, SubnetId=subnet)
    text = report(run_runbook(lab, instance))
    assert f"- [INFO] No VPC endpoint for Systems Manager found on the EC2 instance VPC: {vpc}." in text
    assert f"2. Checks for the VPC route table entries of the instance's subnet '{subnet}:'" in text
    assert f"- [INFO] VPC route table found: {table}." in text
    assert "- [INFO] VPC local route (default route) available for 10.0.0.0/16." in text
    assert ("- [WARNING] No route found for 0.0.0.0/0. Internet access is required to connect to the public Systems "
            "Manager endpoint.") in text
    assert "- For more information about route tables see" in text


def test_an_internet_gateway_route_without_a_public_ip(lab):
    make_profile(lab)
    _vpc, subnet, _table = private_subnet(lab, igw=True)
    instance = launch(lab, SubnetId=subnet)
    text = report(run_runbook(lab, instance))
    assert "route associated, however the instance does not have a public IP address associated." in text


def test_an_endpoint_without_private_dns_whose_security_group_refuses_the_instance(lab):
    ec2 = lab.client("ec2")
    make_profile(lab)
    vpc, subnet, _table = private_subnet(lab)
    closed = ec2.create_security_group(GroupName="endpoint", Description="no ingress", VpcId=vpc)["GroupId"]
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{lab.region}.ssm", VpcEndpointType="Interface",
        SubnetIds=[subnet], SecurityGroupIds=[closed], PrivateDnsEnabled=False,
    )["VpcEndpoint"]["VpcEndpointId"]
    instance = launch(lab, SubnetId=subnet)
    text = report(run_runbook(lab, instance))
    assert f"- [OK] VPC endpoint '{endpoint}' for Systems Manager found on the EC2 instance's VPC: {vpc}." in text
    assert "- [WARNING] Private DNS is not enabled on the VPC endpoint (Enabling private DNS names is recommended)." in text
    assert f"- [ERROR] VPC endpoint security groups '{closed}' do not allow traffic on port '443'" in text
    assert ("- [SKIPPED] VPC endpoint for Systems Manager is present and in the same subnet as the EC2 instance."
            in text)
    assert f"- [OK] A public route is not required to communicate with the Systems Manager VPC endpoint interface '{endpoint}'." in text
    # Opening the endpoint's group to the VPC makes that line OK.
    ec2.authorize_security_group_ingress(GroupId=closed, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
    assert f"- [OK] VPC endpoint security group '{closed}' allows traffic on port '443' from the instance private IP" in report(
        run_runbook(lab, instance))


def test_security_group_egress_without_https(lab):
    ec2 = lab.client("ec2")
    make_profile(lab)
    vpc, subnet, _table = private_subnet(lab, igw=True, public_ip=True)
    group = ec2.create_security_group(GroupName="web-out", Description="80 only", VpcId=vpc)["GroupId"]
    ec2.revoke_security_group_egress(GroupId=group, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    instance = launch(lab, SubnetId=subnet, SecurityGroupIds=[group])
    text = report(run_runbook(lab, instance))
    assert (f"- [WARNING] Instance security group '{group}' does not allow outbound traffic on port '443' to public "
            "System Manager endpoint.") in text
    assert f"- [ERROR] Instance security group '{group}' does not allow outbound traffic on port '443'." in text
    ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert f"- [OK] VPC endpoint security group '{group}' allows outbound traffic on port '443' to '0.0.0.0/0'." in report(
        run_runbook(lab, instance))


def test_a_network_acl_that_denies_the_ephemeral_ports_outbound(lab):
    ec2 = lab.client("ec2")
    make_profile(lab)
    vpc, subnet, _table = private_subnet(lab, igw=True, public_ip=True)
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    current = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"][0]
    association = next(a["NetworkAclAssociationId"] for a in current["Associations"] if a["SubnetId"] == subnet)
    ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=acl)
    instance = launch(lab, SubnetId=subnet)
    address = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["PrivateIpAddress"]
    text = report(run_runbook(lab, instance))
    assert f"- Check network ACLs requirements on network ACL '{acl}':" in text
    assert f"- [ERROR] 'ALL' outbound traffic not allowed to '{address}' from '[1024, 65535]'" in text
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1", RuleAction="allow", Egress=True,
                                 CidrBlock="0.0.0.0/0")
    assert f"- [OK] 'ALL' outbound traffic allowed to '{address}' from '[1024, 65535]'" in report(run_runbook(lab, instance))


def test_an_unknown_instance_fails_the_execution_at_describe_instances(lab):
    execution = run_runbook(lab, "i-0123456789abcdef0")
    assert execution["AutomationExecutionStatus"] == "Failed"
    failed = execution["StepExecutions"][-1]
    assert (failed["StepName"], failed["StepStatus"]) == ("GetInstanceProperties", "Failed")
    assert "InvalidInstanceID.NotFound" in failed["FailureMessage"] == execution["FailureMessage"]
    assert execution["Outputs"] == {}


# --- the pure checks ---------------------------------------------------------------------


def test_a_lower_numbered_deny_wins_in_the_acl_reading():
    allow_all = {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": True, "CidrBlock": "0.0.0.0/0"}
    deny_all = {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": True, "CidrBlock": "0.0.0.0/0"}
    deny_first = {"RuleNumber": 50, "Protocol": "-1", "RuleAction": "deny", "Egress": True, "CidrBlock": "10.0.0.0/8"}
    assert automation.acl_allows([allow_all, deny_all], "10.0.1.5", True, "-1", (1024, 65535))
    assert not automation.acl_allows([allow_all, deny_all, deny_first], "10.0.1.5", True, "-1", (1024, 65535))
    assert automation.acl_allows([allow_all, deny_all, deny_first], "192.168.0.1", True, "-1", (1024, 65535))
    assert not automation.acl_allows([allow_all], "10.0.1.5", False, "-1", (1024, 65535))  # inbound: no rule


@pytest.mark.parametrize("policy, verdict", [
    ("AdministratorAccess", "[OK]"), ("AmazonEC2RoleforSSM", "[OK]"), ("ReadOnlyAccess", "[ERROR]"),
])
def test_the_iam_check_accepts_its_list_of_names(policy, verdict):
    facts = automation.Facts("us-east-1", "i-1", {"IamInstanceProfile": {"Arn": "arn:aws:iam::1:instance-profile/p"}},
                             profile_role="r", attached_policies=(policy,))
    assert automation.check_instance_iam(facts)[-1].startswith(verdict)


# --- errors, filters, the document -----------------------------------------------------


@pytest.mark.parametrize("request_, code", [
    ({"DocumentName": "my-runbook", "Parameters": {"InstanceId": ["i-1"]}}, "AutomationDefinitionNotFoundException"),
    ({"DocumentName": "AWS-RestartEC2Instance", "Parameters": {"InstanceId": ["i-1"]}}, "NotImplemented"),
    ({"DocumentName": RUNBOOK}, "InvalidAutomationExecutionParametersException"),
    ({"DocumentName": RUNBOOK, "Parameters": {"InstanceId": ["i-1", "i-2"]}}, "InvalidAutomationExecutionParametersException"),
    ({"DocumentName": RUNBOOK, "Parameters": {"InstanceId": ["i-1"], "Region": ["x"]}},
     "InvalidAutomationExecutionParametersException"),
    ({"DocumentName": RUNBOOK, "DocumentVersion": "99", "Parameters": {"InstanceId": ["i-1"]}},
     "AutomationDefinitionVersionNotFoundException"),
])
def test_bad_starts_answer_in_aws_error_codes_and_create_nothing(lab, request_, code):
    ssm = lab.client("ssm")
    with pytest.raises(ClientError) as raised:
        ssm.start_automation_execution(**request_)
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert automation.automations(lab.account_id, lab.region).executions == {}


def test_an_unknown_execution_id(lab):
    with pytest.raises(ClientError) as raised:
        lab.client("ssm").get_automation_execution(AutomationExecutionId="00000000-0000-0000-0000-000000000000")
    assert raised.value.response["Error"]["Code"] == "AutomationExecutionNotFoundException"


def test_step_execution_filters(lab):
    ssm = lab.client("ssm")
    instance = launch(lab, profile=None)
    execution_id = ssm.start_automation_execution(DocumentName=RUNBOOK, Parameters={"InstanceId": [instance]})[
        "AutomationExecutionId"
    ]
    lab.wait(minutes=1)

    def steps(**extra):
        return [s["StepName"] for s in ssm.describe_automation_step_executions(
            AutomationExecutionId=execution_id, **extra)["StepExecutions"]]

    assert steps(Filters=[{"Key": "StepName", "Values": ["checkNACL", "FinalOutput"]}]) == ["checkNACL", "FinalOutput"]
    assert steps(Filters=[{"Key": "Action", "Values": ["aws:branch"]}]) == ["BranchOnIsInstanceManaged", "BranchOnPlatform"]
    assert steps(Filters=[{"Key": "StepExecutionStatus", "Values": ["FAILED"]}]) == []
    assert steps(ReverseOrder=True)[0] == "FinalOutput"
    assert steps(Filters=[{"Key": "ParentStepExecutionId", "Values": ["x"]}]) == []  # no loop in this runbook
    with pytest.raises(ClientError) as raised:
        steps(Filters=[{"Key": "Colour", "Values": ["x"]}])
    assert raised.value.response["Error"]["Code"] == "InvalidFilterKey"


def test_describe_document(lab):
    ssm = lab.client("ssm")
    document = ssm.describe_document(Name=RUNBOOK)["Document"]
    assert (document["Owner"], document["DocumentType"], document["Status"]) == ("Amazon", "Automation", "Active")
    assert [(p["Name"], p["Type"]) for p in document["Parameters"]] == [("AutomationAssumeRole", "String"),
                                                                        ("InstanceId", "String")]
    with pytest.raises(ClientError) as raised:
        ssm.describe_document(Name="no-such-document")
    assert raised.value.response["Error"]["Code"] == "InvalidDocument"


# --- through the real aws CLI ----------------------------------------------------------


def test_the_runbook_through_the_aws_cli(lab, aws):
    make_profile(lab, policies=())
    instance = launch(lab)
    started = aws("ssm", "start-automation-execution", "--document-name", RUNBOOK, "--parameters",
                  f"InstanceId={instance}", "--query", "AutomationExecutionId", "--output", "text", check=True)
    execution_id = started.stdout.strip()
    lab.wait(minutes=1)
    status = aws("ssm", "get-automation-execution", "--automation-execution-id", execution_id, "--query",
                 "AutomationExecution.AutomationExecutionStatus", "--output", "text", check=True)
    assert status.stdout.strip() == "Success"
    # The query AWS users run to read the report (docs/aws-facts.md#the-troubleshooting-runbook).
    message = aws("ssm", "get-automation-execution", "--automation-execution-id", execution_id, "--query",
                  "AutomationExecution.StepExecutions[?StepName==`FinalOutput` && StepStatus==`Success`].Outputs.Message",
                  "--output", "text", check=True)
    assert "- [ERROR] No permissions found attached to the EC2 instance profile 'for-ec2'." in message.stdout
    table = aws("ssm", "describe-automation-step-executions", "--automation-execution-id", execution_id, "--query",
                "StepExecutions[].[StepName,StepStatus]", "--output", "text", check=True)
    assert table.stdout.splitlines()[0].split() == ["GetPingStatus", "Success"]
    document = aws("ssm", "describe-document", "--name", RUNBOOK, "--query", "Document.Owner", "--output", "text",
                   check=True)
    assert document.stdout.strip() == "Amazon"
    missing = aws("ssm", "start-automation-execution", "--document-name", "my-runbook", "--parameters",
                  f"InstanceId={instance}")
    assert missing.returncode != 0
    assert ("An error occurred (AutomationDefinitionNotFoundException) when calling the StartAutomationExecution "
            "operation: Document my-runbook does not exist.") in missing.stderr
    unmodelled = aws("ssm", "start-automation-execution", "--document-name", "AWS-RestartEC2Instance",
                     "--parameters", f"InstanceId={instance}")
    assert "ssmlab's offline lab does not model StartAutomationExecution" in unmodelled.stderr
    assert "Traceback" not in unmodelled.stderr + missing.stderr


def test_ssmlab_diagnose_still_asks_a_running_lab_through_its_own_document(lab):
    instance = launch(lab, profile=None)
    execution_id = lab.client("ssm").start_automation_execution(
        DocumentName=automation.DIAGNOSTICS_DOCUMENT, Parameters={"InstanceId": [instance]})["AutomationExecutionId"]
    execution = lab.client("ssm").get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]
    assert execution["AutomationExecutionStatus"] == "Success"
    assert "sudo ssm-cli get-diagnostics --output table" in execution["Outputs"]["GetDiagnostics.Diagnostics"][0]
    assert lab.client("ssm").describe_document(Name=automation.DIAGNOSTICS_DOCUMENT)["Document"]["Owner"] == "ssmlab"


# --- waiting for an execution ---------------------------------------------------------


def test_wait_for_automation_moves_the_lab_clock_offline_and_times_out_in_one_sentence(lab):
    from ssmlab import LabError, waiting

    ssm = lab.client("ssm")
    instance = launch(lab, profile=None)

    def start():
        return ssm.start_automation_execution(DocumentName=RUNBOOK, Parameters={"InstanceId": [instance]})[
            "AutomationExecutionId"]

    before = lab.clock.now()
    done = waiting.wait_for_automation(lab, start(), progress=False)
    assert done["AutomationExecutionStatus"] == "Success" and lab.clock.now() > before
    # The real-account path, with a clock that runs out before the steps are done.
    ticks = iter(range(1000))
    with pytest.raises(LabError) as raised:
        waiting.wait_for_automation(lab, start(), timeout=3, progress=False, clock=lambda: next(ticks),
                                    sleep=lambda seconds: None)
    assert "had not finished within" in str(raised.value) and "\n" not in str(raised.value)


# --- the runbook on lesson 08's fleet -------------------------------------------------


def test_the_runbook_on_the_fleet_of_lesson_08_says_what_the_lesson_says(lab, tmp_path, monkeypatch):
    """Lesson 08's solutions quote what the runbook reports for some members of its fleet
    (the seed is read from the lesson's own cell)."""
    import re
    from pathlib import Path

    from ssmlab import fleet, waiting

    lesson = (Path(__file__).resolve().parents[1] / "notebooks" / "08-fix-the-fleet.ipynb").read_text()
    seed = int(re.search(r"fleet\.build\(lab, seed=(\d+)\)", lesson).group(1))
    monkeypatch.setenv("SSMLAB_PROGRESS", str(tmp_path / "progress.json"))
    built = fleet.build(lab, seed=seed)
    ssm = lab.client("ssm")
    started = {m.cause_key: ssm.start_automation_execution(
        DocumentName=RUNBOOK, Parameters={"InstanceId": [m.instance_id]})["AutomationExecutionId"]
        for m in built.members}
    reports = {key: report(waiting.wait_for_automation(lab, execution_id, progress=False))
               for key, execution_id in started.items()}
    sections = {key: dict(enumerate(text.split("\n\n"), start=1)) for key, text in reports.items()}
    # What the runbook says for a cause: (section, a line of it). The lesson reads node-08's
    # report (its Deny passes section 5 on the policies' names; the endpoint's private DNS
    # warning in section 1) and its solutions quote the others.
    says = {
        "security-group-egress": (4, "[ERROR] Instance security group"),
        # The ACL is named, for an outbound rule: the rule that is missing is inbound.
        "network-acl-return-traffic": (3, "[ERROR] 'ALL' outbound traffic not allowed to"),
        "endpoints-without-private-dns": (1, "[WARNING] Private DNS is not enabled"),
        "explicit-deny": (5, "[OK] Found an AWS managed policy"),  # names, not Deny
        "trust-only-ssm": (5, "[OK] Found an AWS managed policy"),  # nor the trust policy
        "no-instance-profile": (5, "[ERROR] No EC2 instance IAM profile attached"),
        "role-without-policy": (5, "[ERROR] No permissions found attached"),
    }
    assert {"explicit-deny", "endpoints-without-private-dns", "network-acl-return-traffic"} <= set(sections)
    assert "[WARNING] Private DNS is not enabled" in sections["explicit-deny"][1]  # node-08's, as the lesson reads it
    for key, (section, line) in says.items():
        if key in sections:
            assert line in sections[key][section], (key, sections[key][section])


def test_lesson_08_names_each_member_with_its_own_cause():
    """The lesson's triage, its exercise and its solutions follow the causes its seed draws:
    a new cause in the catalogue can change the draw, and this says which node moved."""
    import re
    from pathlib import Path

    import nbformat

    from ssmlab import fleet

    lesson = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks" / "08-fix-the-fleet.ipynb", 4)
    source = "\n".join(cell.source for cell in lesson.cells)
    seed = int(re.search(r"fleet\.build\(lab, seed=(\d+)\)", source).group(1))
    drawn = {member: cause for member, cause in fleet.draw(seed)}
    assert drawn["node-08"].key == "explicit-deny"  # the triage walks node-08 to its Deny
    assert drawn["node-06"].key == "role-without-policy"  # the AdministratorAccess exercise
    bullets = dict(re.findall(r"^- \*\*(node-\d\d)\*\*(.*?)(?=^- \*\*node-|^\s*$)", source, re.M | re.S))
    assert set(bullets) == set(drawn) - {"node-06", "node-08"}
    for member, text in bullets.items():
        operations = {line.split()[2] for line in drawn[member].fix}
        assert any(op in text for op in operations), (member, drawn[member].key, operations)
