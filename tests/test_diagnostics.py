"""What ``ssm-cli get-diagnostics --output table`` prints on an offline instance, and
``ssmlab diagnose`` (aws/amazon-ssm-agent agent/cli/diagnostics; docs/aws-facts.md#core-5)."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest

from ssmlab.errors import LabError
from ssmlab.simulation import diagnostics
from test_agent import endpoints, launch, make_profile, private_subnet, ami, AL2023_MINIMAL


def table(lab, instance) -> dict[str, tuple[str, str]]:
    """{Check: (Status, Note)} from the rendered text (wrapped notes joined)."""
    text = diagnostics.diagnose(lab.account_id, lab.region, instance)
    result: dict[str, tuple[str, str]] = {}
    current = None
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        check, status, note = (cell.strip() for cell in line.strip("│").split("│"))
        if check:
            current = check
            result[check] = (status, note)
        elif current:
            result[current] = (result[current][0], f"{result[current][1]} {note}")
    result.pop("Check", None)
    return result


def test_healthy_instance_every_check_passes(lab):
    instance = launch(lab, make_profile(lab))
    rows = table(lab, instance)
    assert list(rows)[:3] == ["EC2 IMDS", "Hybrid instance registration", "Connectivity to ssm endpoint"]
    assert list(rows)[-1] == "SSM Agent version"
    assert {status for status, _ in rows.values()} <= {"Success", "Skipped"}
    assert f"assumed-role/role-for-ec2/{instance}" in rows["AWS Credentials"][1]
    text = diagnostics.diagnose(lab.account_id, lab.region, instance)
    assert "is registered with Systems Manager" in text


def test_missing_permission_passes_every_check_but_the_log_shows_access_denied(lab):
    # ssm-cli does not check permissions: the AccessDeniedException is in the agent log.
    instance = launch(lab, make_profile(lab, policies=()))
    rows = table(lab, instance)
    assert rows["AWS Credentials"][0] == "Success"
    text = diagnostics.diagnose(lab.account_id, lab.region, instance)
    log = text.split("amazon-ssm-agent.log", 1)[1]
    assert "is not authorized to perform: ssm:UpdateInstanceInformation" in log
    assert "is NOT registered" in text


def test_no_route_fails_the_connectivity_checks(lab):
    _, subnet, table_id = private_subnet(lab)
    instance = launch(lab, make_profile(lab), SubnetId=subnet)
    rows = table(lab, instance)
    for service in ("ssm", "ec2messages", "ssmmessages", "s3", "kms", "logs", "monitoring"):
        status, note = rows[f"Connectivity to {service} endpoint"]
        address = f"{service}.{lab.region}.amazonaws.com"
        # ssm-cli's "%s is not reachable: %v" with Go's dial error, its address and port.
        assert status == "Failed" and note.startswith(f"{address} is not reachable: dial tcp 203.0.113.")
        assert ":443: i/o timeout (" in note
    assert table_id in rows["Connectivity to ssm endpoint"][1]
    # ssm-cli's credentials check calls STS with a 2 s timeout: no route, no answer
    # (agent/cli/diagnostics/credentials_check.go:32,69-80).
    assert rows["AWS Credentials"] == ("Failed", "STS call timed out")


def test_an_sts_endpoint_answers_the_credentials_check_in_a_private_subnet(lab):
    vpc, subnet, _ = private_subnet(lab)
    endpoints(lab, vpc, subnet, services=("ssm", "ssmmessages", "sts"))
    instance = launch(lab, make_profile(lab), SubnetId=subnet)
    status, note = table(lab, instance)["AWS Credentials"]
    assert status == "Success" and f"assumed-role/role-for-ec2/{instance}" in note


def test_endpoints_pass_only_the_services_they_serve(lab):
    vpc, subnet, _ = private_subnet(lab)
    instance = launch(lab, make_profile(lab), SubnetId=subnet)
    endpoints(lab, vpc, subnet)
    rows = table(lab, instance)
    assert rows["Connectivity to ssm endpoint"][0] == "Success"
    assert rows["Connectivity to s3 endpoint"][0] == "Failed"
    assert rows["SSM Agent version"][1].endswith("3.3.987.0")  # latest version unknown without S3


def test_imds_off(lab):
    instance = launch(lab, make_profile(lab), MetadataOptions={"HttpEndpoint": "disabled"})
    rows = table(lab, instance)
    assert rows["EC2 IMDS"][0] == "Failed"
    assert rows["Connectivity to ssm endpoint"] == ("Skipped", "Unable to fetch AWS region details")
    assert rows["AWS Credentials"] == ("Skipped", "No credentials available")


def test_no_profile_fails_credentials(lab):
    instance = launch(lab, profile=None)
    status, note = table(lab, instance)["AWS Credentials"]
    assert status == "Failed" and "EC2RoleRequestError: no EC2 instance role found" in note


def test_trust_without_ec2_fails_credentials(lab):
    instance = launch(lab, make_profile(lab, services=("ssm.amazonaws.com",)))
    status, note = table(lab, instance)["AWS Credentials"]
    assert status == "Failed" and "EC2 cannot assume role role-for-ec2" in note


def test_no_agent_and_stopped(lab):
    minimal = launch(lab, make_profile(lab), image=ami(lab, AL2023_MINIMAL))
    assert "ssm-cli: command not found" in diagnostics.diagnose(lab.account_id, lab.region, minimal)
    running = launch(lab)
    lab.client("ec2").stop_instances(InstanceIds=[running])
    assert "is stopped" in diagnostics.diagnose(lab.account_id, lab.region, running)


def test_table_layout_matches_ssm_cli():
    rows = [("EC2 IMDS", "Success", "word " * 30), ("AWS Credentials", "Failed", "short")]
    lines = diagnostics.render_table(rows).splitlines()
    assert lines[0].startswith("┌") and lines[-1].startswith("└")
    assert lines[1].split("│")[1:4] == [" Check           ", " Status  ", lines[1].split("│")[3]]
    assert {len(line) for line in lines} == {80}  # fits maxTableWidth when no word is longer
    assert sum(1 for line in lines if line.startswith("│ EC2 IMDS") or line.startswith("│                 │")) >= 3


def test_ssmlab_diagnose_in_another_process(lab):
    instance = launch(lab, make_profile(lab, policies=()))
    result = subprocess.run(
        ["ssmlab", "diagnose", instance], env=lab.env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stderr
    assert "Connectivity to ssm endpoint" in result.stdout
    assert "not authorized to perform: ssm:UpdateInstanceInformation" in result.stdout
    lab.client("iam").attach_role_policy(
        RoleName="role-for-ec2", PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    )
    result = subprocess.run(
        ["ssmlab", "diagnose", instance, "--endpoint", lab.endpoint], env=lab.env,
        capture_output=True, text=True, timeout=120,
    )
    # Every check passes now, but the agent sleeps until its retry: the verdict says so.
    assert result.returncode == 1 and "backing off" in result.stdout
    lab.client("ec2").reboot_instances(InstanceIds=[instance])
    lab.wait(seconds=30)
    result = subprocess.run(
        ["ssmlab", "diagnose", instance, "--endpoint", lab.endpoint], env=lab.env,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0 and "is registered with Systems Manager" in result.stdout


def test_lab_diagnose_prints_in_the_kernel_with_or_without_the_table(lab, capsys):
    # What lessons 05 and 07 call: the text of `ssmlab diagnose`, printed by Python (a `!`
    # command's box-drawing characters can be split by IPython's chunked pty decoding).
    instance = launch(lab, make_profile(lab, policies=()))
    lab.diagnose(instance)
    full = capsys.readouterr().out
    assert full == diagnostics.diagnose(lab.account_id, lab.region, instance)
    assert full.startswith("[ec2-user@") and "┌" in full
    lab.diagnose(instance, table=False)
    log_only = capsys.readouterr().out
    assert log_only.startswith("[ec2-user@~]$ sudo tail /var/log/amazon/ssm/amazon-ssm-agent.log\n")
    assert "┌" not in log_only and log_only.endswith(full.split("amazon-ssm-agent.log\n", 1)[1])


def test_lab_diagnose_on_a_real_account_points_to_the_runbook(lab):
    real = dataclasses.replace(lab, backend="aws")
    with pytest.raises(LabError, match="AWSSupport-TroubleshootManagedInstance"):
        real.diagnose("i-0123456789abcdef0")
