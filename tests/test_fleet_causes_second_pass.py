"""The fleet's causes of the second pass, each alone: a one-member fleet from the same
template, what the public APIs, ``lab.diagnose``, the runbook and the instance show, and
the answer key's lines run with the real ``aws`` CLI (docs/aws-facts.md, "The fleet's
causes, second pass")."""

from __future__ import annotations

import base64
import subprocess

import pytest

from ssmlab import fleet
from ssmlab.fleet import causes as catalogue
from ssmlab.fleet import template as tpl
from ssmlab.simulation import agent, diagnostics, instance_state
from test_automation import report, run_runbook

MEMBER = "node-01"


@pytest.fixture(autouse=True)
def _progress_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SSMLAB_PROGRESS", str(tmp_path / "progress.json"))


def alone(lab, key: str) -> str:
    """A fleet of one member whose cause is ``key``, built as build() builds one; its instance."""
    spec = catalogue.Spec()
    catalogue.BY_KEY[key].apply(spec)
    body = tpl.template([(MEMBER, spec)], seed=0, name=lab.name, tag_value=lab.tags[0]["Value"])
    physical = tpl.create_offline(lab, body)
    lab.wait(seconds=30)
    return physical[f"{tpl.logical(MEMBER)}Instance"]


def listed(lab, instance: str, region: str | None = None) -> str | None:
    ssm = lab.client("ssm") if region is None else lab.client("ssm", region_name=region)
    found = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance]}])
    return found["InstanceInformationList"][0]["PingStatus"] if found["InstanceInformationList"] else None


def run_fix(lab, key: str, instance: str, tmp_path) -> subprocess.CompletedProcess:
    """The cause's answer-key lines, filled for ``instance``, run by bash with the real CLI."""
    resources = {**tpl.names(lab.name, MEMBER), "instance": instance, "region": lab.region}
    lines = ["set -euo pipefail", *(fleet._fill(line, resources) for line in catalogue.BY_KEY[key].fix)]
    script = tmp_path / "fix.sh"
    script.write_text("\n".join(lines) + "\n")
    return subprocess.run(["bash", str(script)], env=lab.env, capture_output=True, text=True, timeout=120)


# --- agent-not-installed --------------------------------------------------------------------


def test_an_image_without_the_agent_is_never_listed_and_shows_no_agent_at_all(lab):
    instance = alone(lab, "agent-not-installed")
    ec2 = lab.client("ec2")
    image_id = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["ImageId"]
    parameter = lab.client("ssm").get_parameter(Name=tpl.DEBIAN_AMI_PARAMETER)["Parameter"]
    assert parameter["Value"] == image_id and parameter["DataType"] == "aws:ec2:image"
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert image["OwnerId"] == "136693071363" and image["Name"].startswith("debian-12-amd64-")
    assert listed(lab, instance) is None
    state = agent.observe(lab.account_id, lab.region, instance)
    assert state.log == () and state.agent_phase == agent.AgentPhase.NOT_INSTALLED
    text = diagnostics.diagnose(lab.account_id, lab.region, instance)
    assert text.startswith("[admin@") and "sudo: ssm-cli: command not found" in text
    assert "is NOT registered with Systems Manager: Agent service: AMI debian-12-amd64-" in text
    # The runbook reads AWS's APIs only: route, ACL, security group and profile pass; it points to ssm-cli.
    checks = report(run_runbook(lab, instance))
    for passed in ("[OK] VPC internet gateway", "[OK] 'ALL' outbound traffic allowed", "allows outbound traffic on "
                   "port '443'", "[OK] Found an AWS managed policy attached"):
        assert passed in checks, passed
    assert "use the 'ssm-cli' tool" in checks
    # Nothing reaches the instance: Run Command refuses a node Systems Manager does not know.
    with pytest.raises(lab.client("ssm").exceptions.InvalidInstanceId):
        lab.client("ssm").send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript",
                                       Parameters={"commands": ["true"]})


def test_a_plain_script_as_new_user_data_does_not_run_again_the_every_boot_form_does(lab):
    instance = alone(lab, "agent-not-installed")
    ec2 = lab.client("ec2")
    plain = "#!/bin/bash\n" + catalogue.INSTALL_AGENT_EVERY_BOOT.split("#!/bin/bash\n", 1)[1].split("--//--")[0]
    for user_data, managed in ((plain, False), (catalogue.INSTALL_AGENT_EVERY_BOOT, True)):
        ec2.stop_instances(InstanceIds=[instance])
        lab.wait(seconds=5)
        ec2.modify_instance_attribute(InstanceId=instance, Attribute="userData",
                                      Value=base64.b64encode(user_data.encode()).decode())
        ec2.start_instances(InstanceIds=[instance])
        lab.wait(seconds=10)
        assert (listed(lab, instance) == "Online") is managed, user_data[:30]
    output = instance_state.get(lab.account_id, lab.region, instance).files["/var/log/cloud-init-output.log"]
    assert "Setting up amazon-ssm-agent (3.3.987.0-1) ...\nStarting agent\n" in output
    assert "Created symlink /etc/systemd/system/multi-user.target.wants/amazon-ssm-agent.service" in output


def test_the_answer_keys_lines_install_the_agent_with_the_aws_cli(lab, aws, tmp_path):
    instance = alone(lab, "agent-not-installed")
    running = aws("ec2", "modify-instance-attribute", "--instance-id", instance, "--attribute", "userData",
                  "--value", "IyEvYmluL2Jhc2gK")
    assert running.returncode != 0 and running.stderr.strip() == (
        "An error occurred (IncorrectInstanceState) when calling the ModifyInstanceAttribute operation: "
        f"The instance '{instance}' is not in the 'stopped' state.")
    result = run_fix(lab, "agent-not-installed", instance, tmp_path)
    assert result.returncode == 0, result.stderr
    lab.wait(seconds=10)
    assert listed(lab, instance) == "Online"
    assert lab.client("ssm").get_connection_status(Target=instance)["Status"] == "connected"
    information = lab.client("ssm").describe_instance_information()["InstanceInformationList"][0]
    assert (information["PlatformName"], information["PlatformVersion"]) == ("Debian GNU/Linux", "12")
    # The agent's files are there now; a Session Manager shell reads them.
    session = lab.start_session(instance)
    assert session.run("systemctl is-enabled amazon-ssm-agent") == "enabled\n"
    assert "Debian GNU/Linux 12 (bookworm)" in session.run("cat /etc/os-release")
    # It installs again at every boot, and stays Online.
    lab.client("ec2").reboot_instances(InstanceIds=[instance])
    lab.wait(seconds=10)
    assert listed(lab, instance) == "Online"


def test_the_shell_downloads_only_with_a_route_and_installs_only_as_root(lab):
    instance = alone(lab, "agent-not-installed")
    instance_state.get(lab.account_id, lab.region, instance).agent_installed = True  # to open a shell at all
    lab.client("ec2").reboot_instances(InstanceIds=[instance])
    lab.wait(seconds=10)
    session = lab.start_session(instance)
    assert session.run(f"wget -q -O /tmp/a.deb {catalogue.AGENT_DEB}; echo $?") == "0\n"
    assert session.run("dpkg -i /tmp/a.deb") == "dpkg: error: requested operation requires superuser privilege\n"
    assert session.run("dpkg -i /tmp/none.deb").startswith("dpkg: error:")
    assert "Unpacking amazon-ssm-agent (3.3.987.0-1) over (3.3.987.0-1) ..." in session.run("sudo dpkg -i /tmp/a.deb")
    session.run("echo hello > /tmp/b.deb")
    assert "dpkg-deb: error: '/tmp/b.deb' is not a Debian format archive" in session.run("sudo dpkg -i /tmp/b.deb")


def test_the_debian_member_has_debians_commands_not_amazon_linuxs(lab, tmp_path):
    """dnf, yum and rpm are Amazon Linux's: on Debian bash says "command not found"; apt is
    Debian's (real, not simulated); Amazon Linux answers the other way round."""
    instance = alone(lab, "agent-not-installed")
    assert run_fix(lab, "agent-not-installed", instance, tmp_path).returncode == 0
    lab.wait(seconds=10)
    session = lab.start_session(instance)
    for name in ("dnf", "yum", "rpm"):
        answer = session.run(f"{name} --version; echo $?")
        assert f"sh: {name}: command not found\n" in answer and answer.startswith("127\n"), (name, answer)
    assert "`apt-get` exists on the instance but is not simulated" in session.run("apt-get update")
