"""The simulated instance as a machine: files, the agent's service and user data that last.

What one shell writes, another reads (Run Command, Session Manager, a reboot later); only
root writes outside the user's own places; ``systemctl`` drives the simulated agent; cloud-init
runs the user data through the same shell at the first boot, or at every boot when a MIME
multi-part user data says ``[scripts-user, always]`` (docs/aws-facts.md#instance-machine).
"""

from __future__ import annotations

import base64

from ssmlab.simulation import agent, instance_state
from test_agent import launch, make_profile, managed_ids

CONFIG = instance_state.AGENT_CONFIG


def send(lab, instance, *lines) -> dict:
    ssm = lab.client("ssm")
    command = ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript",
                               Parameters={"commands": list(lines)})["Command"]["CommandId"]
    lab.wait(seconds=5)
    return ssm.get_command_invocation(CommandId=command, InstanceId=instance)


def every_boot(script: str) -> str:
    """The AWS Knowledge Center's MIME multi-part user data that runs ``script`` at every boot."""
    return (
        'Content-Type: multipart/mixed; boundary="//"\nMIME-Version: 1.0\n\n'
        '--//\nContent-Type: text/cloud-config; charset="us-ascii"\nMIME-Version: 1.0\n'
        'Content-Transfer-Encoding: 7bit\nContent-Disposition: attachment; filename="cloud-config.txt"\n\n'
        "#cloud-config\ncloud_final_modules:\n- [scripts-user, always]\n\n"
        '--//\nContent-Type: text/x-shellscript; charset="us-ascii"\nMIME-Version: 1.0\n'
        'Content-Transfer-Encoding: 7bit\nContent-Disposition: attachment; filename="userdata.txt"\n\n'
        f"{script}\n--//--\n"
    )


def test_a_file_written_by_run_command_is_there_in_a_later_command_and_after_a_reboot(lab):
    instance = launch(lab, make_profile(lab))
    wrote = send(lab, instance, f"echo '{{\"Agent\": {{\"Region\": \"eu-west-1\"}}}}' > {CONFIG}")
    assert wrote["Status"] == "Success", wrote["StandardErrorContent"]
    assert send(lab, instance, f"cat {CONFIG}")["StandardOutputContent"] == '{"Agent": {"Region": "eu-west-1"}}\n'
    lab.client("ec2").reboot_instances(InstanceIds=[instance])
    lab.wait(seconds=5)
    listed = send(lab, instance, "ls /etc/amazon/ssm")["StandardOutputContent"].split()
    assert "amazon-ssm-agent.json" in listed and "amazon-ssm-agent.json.template" in listed
    removed = send(lab, instance, f"rm -f {CONFIG}", f"cat {CONFIG}")
    assert removed["StandardErrorContent"].endswith(f"cat: {CONFIG}: No such file or directory\nfailed to run commands: exit status 1")


def test_a_normal_user_may_not_write_roots_files_and_the_command_does_not_run(lab):
    instance = launch(lab, make_profile(lab))
    session = lab.start_session(instance)
    assert session.run(f"echo x > {CONFIG}") == f"sh: {CONFIG}: Permission denied\n"
    assert session.run("echo $?") == "1\n"
    assert session.run(f"rm {CONFIG}.template") == f"rm: cannot remove '{CONFIG}.template': Permission denied\n"
    assert session.run("echo kept > /tmp/note; cat /tmp/note") == "kept\n"
    # what the session wrote is the instance's: Run Command reads it
    assert send(lab, instance, "cat /tmp/note")["StandardOutputContent"] == "kept\n"
    assert send(lab, instance, f"cat {CONFIG}")["Status"] == "Failed"


def test_systemctl_stops_and_starts_the_agent_and_says_so_to_a_normal_user(lab):
    instance = launch(lab, make_profile(lab))
    assert instance in managed_ids(lab)
    session = lab.start_session(instance)
    assert session.run("systemctl stop amazon-ssm-agent") == (
        "Failed to stop amazon-ssm-agent.service: Interactive authentication required.\n"
        "See system logs and 'systemctl status amazon-ssm-agent.service' for details.\n")
    session.run("sudo systemctl stop amazon-ssm-agent")
    assert agent.observe(lab.account_id, lab.region, instance).agent_phase == agent.AgentPhase.STOPPED
    assert session.run("systemctl is-active amazon-ssm-agent; echo $?") == "inactive\n3\n"
    assert "Active: inactive (dead)" in session.run("systemctl status amazon-ssm-agent")
    session.run("sudo systemctl start amazon-ssm-agent")
    lab.wait(seconds=5)
    assert agent.observe(lab.account_id, lab.region, instance).agent_phase == agent.AgentPhase.ONLINE
    assert session.run("systemctl is-active amazon-ssm-agent") == "active\n"


def test_a_disabled_service_stays_stopped_after_a_reboot_until_enabled(lab):
    instance = launch(lab, make_profile(lab))
    session = lab.start_session(instance)
    assert session.run("sudo systemctl disable amazon-ssm-agent") == (
        'Removed "/etc/systemd/system/multi-user.target.wants/amazon-ssm-agent.service".\n')
    assert session.run("systemctl is-enabled amazon-ssm-agent") == "disabled\n"
    ec2 = lab.client("ec2")
    ec2.reboot_instances(InstanceIds=[instance])
    lab.wait(seconds=30)
    state = agent.observe(lab.account_id, lab.region, instance)
    assert state.agent_phase == agent.AgentPhase.STOPPED
    # Nothing reaches an instance without its agent: enable it as a console would (EC2 serial console).
    instance_state.get(lab.account_id, lab.region, instance).service_enabled = True
    ec2.reboot_instances(InstanceIds=[instance])
    lab.wait(seconds=5)
    assert agent.observe(lab.account_id, lab.region, instance).agent_phase == agent.AgentPhase.ONLINE


def test_user_data_runs_through_the_shell_once_per_instance(lab):
    script = "#!/bin/bash\necho booted >> /root/boots\nsystemctl stop amazon-ssm-agent\n"
    instance = launch(lab, make_profile(lab), UserData=script)
    lab.wait(seconds=5)
    assert instance not in managed_ids(lab)
    log = agent.observe(lab.account_id, lab.region, instance).log
    assert log[-1].endswith("INFO [amazon-ssm-agent] Stopping Core Agent")
    lab.client("ec2").reboot_instances(InstanceIds=[instance])
    lab.wait(seconds=5)
    assert instance in managed_ids(lab)
    assert send(lab, instance, "cat /root/boots")["StandardOutputContent"] == "booted\n"


def test_mime_multipart_user_data_with_scripts_user_always_runs_at_every_boot(lab):
    instance = launch(lab, make_profile(lab), UserData=every_boot("echo booted >> /root/boots"))
    ec2 = lab.client("ec2")
    for _ in range(2):
        ec2.reboot_instances(InstanceIds=[instance])
        lab.wait(seconds=5)
    assert send(lab, instance, "cat /root/boots")["StandardOutputContent"] == "booted\n" * 3
    assert instance in managed_ids(lab)


def test_user_data_parts_read_as_cloud_init_does():
    parts = instance_state.user_data_parts(base64.b64encode(every_boot("echo hi").encode()).decode())
    assert parts.every_boot and parts.scripts == ("echo hi",)
    once = instance_state.user_data_parts("#!/bin/bash\necho hi\n")
    assert not once.every_boot and once.scripts == ("#!/bin/bash\necho hi\n",)
    assert instance_state.user_data_parts(None).scripts == ()
    assert instance_state.user_data_parts("just text").unmodelled
