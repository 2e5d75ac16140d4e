"""The lab clock: agents, heartbeats and commands in virtual time.

Offline, time moves only with requests (one second each), ``lab.wait`` and the offline
waits (ssmlab/simulation/clock.py); the facts are in docs/aws-facts.md
("Time and the agent clock").
"""

from __future__ import annotations

import itertools
import json
import random
import re
import subprocess
import time
from datetime import timedelta

import pytest
from botocore.exceptions import WaiterError
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmlab import waiting
from ssmlab.errors import LabError
from ssmlab.lab import RealClock
from ssmlab.simulation import agent, clock, commands
from test_agent import CORE, launch, make_profile, managed_ids, observe, private_subnet

REGISTER_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ssm:UpdateInstanceInformation", "Resource": "*"}],
}


def info(lab, instance):
    listing = lab.client("ssm").describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [instance]}]
    )["InstanceInformationList"]
    return listing[0] if listing else None


def sleep_seconds(line: str) -> int:
    """The seconds of a 'Sleeping for 27m13s before retrying' line (Go's Duration)."""
    match = re.search(r"Sleeping for (?:(\d+)h)?(?:(\d+)m)?(\d+)s", line)
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


# --- the clock itself -------------------------------------------------------------------


def test_each_request_moves_the_clock_one_step_and_waits_move_it_at_once(lab):
    before = lab.clock.now()
    lab.client("ssm").describe_instance_information()
    assert lab.clock.now() - before == clock.REQUEST_STEP
    before = lab.clock.now()
    lab.wait(minutes=30)
    assert lab.clock.now() - before == timedelta(minutes=30)


def test_wait_of_half_an_hour_costs_far_less_than_its_virtual_time(lab):
    launch(lab, make_profile(lab))  # one Online agent pinging every 5 minutes meanwhile
    ssm = lab.client("ssm")
    started = time.perf_counter()
    ssm.describe_instance_information()
    floor = time.perf_counter() - started  # one request to the lab, measured here
    before = lab.clock.now()
    started = time.perf_counter()
    lab.wait(minutes=30)
    spent = time.perf_counter() - started
    advanced = (lab.clock.now() - before).total_seconds()
    assert advanced == 1800
    # Six health pings' worth of work: a few requests' time, not 1800 s.
    assert spent < 50 * floor, (spent, floor)
    assert spent * 1000 < advanced


@pytest.mark.parametrize("bad", [-1, float("nan"), "30", 2 * 86400])
def test_a_wait_that_makes_no_sense_is_one_plain_sentence(lab, bad):
    with pytest.raises(LabError):
        lab.wait(seconds=bad)


def test_on_a_real_account_a_wait_sleeps_real_time_in_bounded_steps():
    slept: list[float] = []
    RealClock(sleep=slept.append).wait(2.5, progress=False)
    assert slept == [1.0, 1.0, 0.5]
    with pytest.raises(LabError):
        RealClock(sleep=slept.append).wait(RealClock.MAX_SECONDS + 1, progress=False)


# --- the agent's states ---------------------------------------------------------------


def test_states_in_virtual_time_booting_then_online(lab):
    instance = launch(lab, make_profile(lab), boot=False)
    booting = observe(lab, instance)  # read in this process: the clock does not move
    assert (booting.agent_phase, booting.ping_status, booting.log) == (agent.AgentPhase.BOOTING, None, ())
    lab.wait(seconds=agent.BOOT_SECONDS)
    state = observe(lab, instance)
    assert state.agent_phase == agent.AgentPhase.ONLINE
    assert info(lab, instance)["PingStatus"] == "Online"
    # The healthy path logs the agent's own lines (core/app/agent.go:66-68,
    # ec2_role_provider.go:137, credentialrefresher.go:196, agent/agent/agent.go:72).
    log = "\n".join(state.log)
    for line in (
        f"INFO [amazon-ssm-agent] amazon-ssm-agent - v{agent.AGENT_VERSION}",
        "INFO [amazon-ssm-agent] Starting Core Agent",
        "INFO EC2RoleProvider Successfully connected with instance profile role credentials",
        "INFO [CredentialRefresher] Credentials ready",
        f"INFO [ssm-agent-worker] ssm-agent-worker - v{agent.AGENT_VERSION}",
    ):
        assert line in log
    # The registrar's own lines (core/app/registrar/registrar.go:71, ec2_identity.go:162-220),
    # not the invented "Instance … registered; health ping … succeeded".
    assert "INFO [EC2Identity] EC2 registration was successful." in log
    assert "health ping (ssm:UpdateInstanceInformation) succeeded" not in log


def test_heartbeats_keep_an_online_node_online(lab):
    instance = launch(lab, make_profile(lab))
    first = info(lab, instance)["LastPingDateTime"]
    lab.wait(minutes=31)
    later = info(lab, instance)
    assert later["PingStatus"] == "Online"
    assert timedelta(minutes=25) < later["LastPingDateTime"] - first <= timedelta(minutes=31)


def _detach(lab, instance):
    lab.client("iam").detach_role_policy(RoleName="role-for-ec2", PolicyArn=CORE)


def _remove_route(lab, instance):
    ec2 = lab.client("ec2")
    subnet = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["SubnetId"]
    table = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["RouteTables"]
    ec2.delete_route(RouteTableId=table[0]["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")


def _stop_agent(lab, instance):
    agent.stop_agent(lab.account_id, lab.region, instance)


@pytest.mark.parametrize("cause", [_detach, _remove_route, _stop_agent], ids=["policy", "route", "agent"])
def test_a_node_that_stops_qualifying_stays_listed_then_turns_connection_lost(lab, cause):
    vpc, subnet, _ = private_subnet(lab, igw=True, public_ip=True)
    instance = launch(lab, make_profile(lab), SubnetId=subnet)
    before = info(lab, instance)
    assert before["PingStatus"] == "Online"
    cause(lab, instance)
    assert info(lab, instance)["PingStatus"] == "Online"  # heartbeats are not late yet
    lab.wait(seconds=agent.CONNECTION_LOST_SECONDS - agent.PING_SECONDS)
    assert info(lab, instance)["PingStatus"] == "Online"
    lab.wait(seconds=agent.PING_SECONDS + 1)
    lost = info(lab, instance)
    assert lost["PingStatus"] == "ConnectionLost"
    assert lost["LastPingDateTime"] <= before["LastPingDateTime"] + timedelta(seconds=agent.PING_SECONDS)
    lab.wait(minutes=20)
    assert info(lab, instance)["LastPingDateTime"] == lost["LastPingDateTime"]  # frozen
    # ConnectionLost through the real CLI, with its PingStatus filter.
    out = subprocess.run(
        ["aws", "ssm", "describe-instance-information", "--filters", "Key=PingStatus,Values=ConnectionLost",
         "--query", "InstanceInformationList[].[InstanceId,PingStatus]", "--output", "text"],
        env=lab.env, capture_output=True, text=True, timeout=120,
    )
    assert out.stdout.split() == [instance, "ConnectionLost"]


def test_stopped_and_terminated_nodes_are_omitted_at_once(lab):
    ec2 = lab.client("ec2")
    instance = launch(lab, make_profile(lab))
    ec2.stop_instances(InstanceIds=[instance])
    assert managed_ids(lab) == []
    ec2.start_instances(InstanceIds=[instance])
    lab.wait(seconds=agent.BOOT_SECONDS)
    assert info(lab, instance)["PingStatus"] == "Online"
    ec2.terminate_instances(InstanceIds=[instance])
    assert managed_ids(lab) == []


def test_a_refused_agent_retries_after_its_own_back_off(lab):
    instance = launch(lab, make_profile(lab, policies=()))
    sleeping = [line for line in observe(lab, instance).log if "Sleeping for" in line]
    assert len(sleeping) == 1
    back_off = sleep_seconds(sleeping[0])
    assert 25 * 60 <= back_off < 30 * 60  # 25m0s–29m59s (credentialrefresher_deps.go:67-73)
    lab.client("iam").attach_role_policy(RoleName="role-for-ec2", PolicyArn=CORE)
    lab.wait(seconds=back_off - 30)
    assert info(lab, instance) is None  # still sleeping
    lab.wait(seconds=60)
    assert info(lab, instance)["PingStatus"] == "Online"


def test_a_reboot_makes_a_sleeping_agent_retry_at_once(lab):
    instance = launch(lab, make_profile(lab, policies=()))
    lab.client("iam").attach_role_policy(RoleName="role-for-ec2", PolicyArn=CORE)
    subprocess.run(["aws", "ec2", "reboot-instances", "--instance-ids", instance], env=lab.env, check=True, timeout=120)
    found = waiting.wait_for_managed_instance(lab, instance, progress=False)
    assert found["PingStatus"] == "Online"
    assert lab.clock.elapsed < timedelta(minutes=5)


def test_the_offline_wait_moves_virtual_time_to_its_bound_and_explains(lab):
    instance = launch(lab, make_profile(lab, policies=()))
    before = lab.clock.now()
    started = time.perf_counter()
    with pytest.raises(LabError, match="did not become a managed instance within 10 minute"):
        waiting.wait_for_managed_instance(lab, instance, progress=False)
    assert lab.clock.now() - before >= timedelta(minutes=10)
    assert time.perf_counter() - started < 60  # virtual: far less than the 600 s waited


def test_retries_log_at_info_three_times_then_quietly(lab):
    instance = launch(lab, make_profile(lab, policies=()))
    lab.wait(minutes=150)  # five or six retries of 25–30 minutes
    sleeping = [line for line in agent.log_file(lab.account_id, lab.region, instance) if "Sleeping for" in line]
    assert len(sleeping) == agent.LOGGED_RETRIES  # credentialrefresher.go:268-274


@given(seed=st.integers(min_value=0, max_value=2**32))
@settings(max_examples=200, deadline=None)
def test_back_off_bounds_as_the_agent_draws_them(seed):
    rng = random.Random(seed)
    assert 1500 <= agent.long_sleep(rng) <= 1799
    assert agent.default_sleep(0, rng) == 300
    for retry in range(1, 20):
        assert 0 < agent.default_sleep(retry, rng) <= 3600


def test_go_durations_and_the_hibernation_schedule():
    assert [agent.go_duration(s) for s in (1500, 1799, 300, 59, 3600)] == ["25m0s", "29m59s", "5m0s", "59s", "1h0m0s"]
    # hibernation.go: 5 min, then every 10 min for 30, every 20 for 60, every 40 for 120, hourly.
    assert list(itertools.islice(agent.hibernation_pings(), 12)) == [
        300, 900, 1500, 2100, 3300, 4500, 5700, 8100, 10500, 12900, 16500, 20100,
    ]


def test_dhmc_role_without_permission_hibernates_and_wakes_on_its_schedule(lab):
    from test_agent import enable_dhmc

    iam = lab.client("iam")
    role = "AWSSystemsManagerDefaultEC2InstanceManagementRole"
    enable_dhmc(lab, role)
    iam.detach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedEC2InstanceDefaultPolicy")
    instance = launch(lab, profile=None)
    state = observe(lab, instance)
    assert state.agent_phase == agent.AgentPhase.HIBERNATING
    assert any("Entering SSM Agent Worker hibernate - AccessDeniedException" in line for line in state.log)
    iam.put_role_policy(RoleName=role, PolicyName="register", PolicyDocument=json.dumps(REGISTER_ONLY))
    lab.wait(seconds=290)
    assert info(lab, instance) is None  # the first hibernation ping is 5 minutes in
    lab.wait(seconds=20)
    assert info(lab, instance)["PingStatus"] == "Online"


# --- command invocations in time ------------------------------------------------------


def test_a_healthy_command_is_pending_at_send_and_terminal_by_the_first_poll(lab):
    instance = launch(lab, make_profile(lab))
    ssm = lab.client("ssm")
    sent = ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript",
                            Parameters={"commands": ["hostname"]})["Command"]
    assert (sent["Status"], sent["StatusDetails"], sent["CompletedCount"]) == ("Pending", "Pending", 0)
    assert sent["TimeoutSeconds"] == commands.DEFAULT_DELIVERY_TIMEOUT
    invocation = ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=instance)
    assert (invocation["Status"], invocation["StatusDetails"], invocation["ResponseCode"]) == ("Success", "Success", 0)
    assert invocation["ExecutionElapsedTime"] == f"PT{commands.RUN_SECONDS:.3f}S"
    listed = ssm.list_commands(CommandId=sent["CommandId"])["Commands"][0]
    assert (listed["Status"], listed["CompletedCount"], listed["ErrorCount"]) == ("Success", 1, 0)
    # botocore's waiter polls once and returns: it never reaches its 5 s sleep.
    started = time.perf_counter()
    ssm.get_waiter("command_executed").wait(CommandId=sent["CommandId"], InstanceId=instance)
    assert time.perf_counter() - started < 4


def _undeliverable(lab):
    """A registered node whose role may register but open no command channel."""
    iam = lab.client("iam")
    make_profile(lab, policies=())
    iam.put_role_policy(RoleName="role-for-ec2", PolicyName="register", PolicyDocument=json.dumps(REGISTER_ONLY))
    instance = launch(lab)
    assert info(lab, instance)["PingStatus"] == "Online"
    assert not observe(lab, instance).command_channel
    return instance


def test_an_undeliverable_command_stays_pending_then_times_out_in_delivery(lab, aws):
    instance = _undeliverable(lab)
    ssm = lab.client("ssm")
    sent = ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript", TimeoutSeconds=30,
                            Parameters={"commands": ["hostname"]})["Command"]
    command_id = sent["CommandId"]
    pending = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance)
    assert (pending["Status"], pending["StatusDetails"]) == ("Pending", "Pending")
    lab.wait(seconds=30)
    timed_out = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance)
    assert (timed_out["Status"], timed_out["StatusDetails"]) == ("TimedOut", "DeliveryTimedOut")
    assert timed_out["ExecutionStartDateTime"] == ""
    listed = ssm.list_commands(CommandId=command_id)["Commands"][0]
    assert (listed["Status"], listed["StatusDetails"]) == ("TimedOut", "DeliveryTimedOut")
    assert (listed["CompletedCount"], listed["DeliveryTimedOutCount"], listed["ErrorCount"]) == (1, 1, 0)
    invocations = ssm.list_command_invocations(CommandId=command_id, Details=True)["CommandInvocations"]
    assert [(i["Status"], i["StatusDetails"]) for i in invocations] == [("TimedOut", "DeliveryTimedOut")]
    assert invocations[0]["CommandPlugins"][0]["Status"] == "TimedOut"

    # The real CLI's waiter fails at once on TimedOut, as on AWS (waiters-2.json), instead
    # of polling 20 times to "Max attempts exceeded".
    floor_started = time.perf_counter()
    aws("ssm", "get-command-invocation", "--command-id", command_id, "--instance-id", instance, check=True)
    floor = time.perf_counter() - floor_started
    started = time.perf_counter()
    waited = aws("ssm", "wait", "command-executed", "--command-id", command_id, "--instance-id", instance)
    spent = time.perf_counter() - started
    assert waited.returncode == 255
    assert "Waiter CommandExecuted failed: Waiter encountered a terminal failure state" in waited.stderr
    assert '"TimedOut"' in waited.stderr and "Max attempts exceeded" not in waited.stderr
    assert spent < 3 * floor + 1, (spent, floor)

    with pytest.raises(WaiterError, match="terminal failure state"):
        ssm.get_waiter("command_executed").wait(CommandId=command_id, InstanceId=instance)


def test_a_command_sent_before_the_channel_opens_is_delivered_when_it_does(lab):
    instance = _undeliverable(lab)
    ssm = lab.client("ssm")
    sent = ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript",
                            Parameters={"commands": ["hostname"]})["Command"]
    lab.client("iam").attach_role_policy(RoleName="role-for-ec2", PolicyArn=CORE)
    lab.wait(minutes=6)  # the next health ping finds the channel allowed
    done = ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=instance)
    assert done["Status"] == "Success"
    assert done["ExecutionStartDateTime"] > sent["RequestedDateTime"].strftime("%Y-%m-%dT%H:%M:%S")


def test_invocation_goes_pending_in_progress_then_its_terminal_status():
    start = clock.CLOCK.now()
    at = lambda seconds: start + timedelta(seconds=seconds)  # noqa: E731
    results = {"slow": dict(code=0, out="ok", err="", duration=120), "failing": dict(code=3, out="", err="no")}

    def make(kind, execution_timeout=3600):
        return commands.Invocation(
            command_id="c", instance_id="i", plugin="aws:runShellScript", requested=start,
            delivery_timeout=600, execution_timeout=execution_timeout,
            connected=lambda now: True, run=lambda: results[kind],
        )

    slow = make("slow")
    assert slow.view(at(0))["status"] == "Pending"
    assert (slow.view(at(1))["status"], slow.view(at(60))["status"]) == ("InProgress", "InProgress")
    assert slow.view(at(121))["status"] == "Success"
    failing = make("failing")
    failing.view(at(1))
    view = failing.view(at(2))
    assert (view["status"], view["details"], view["code"]) == ("Failed", "Failed", 3)
    timed = make("slow", execution_timeout=60)
    timed.view(at(1))
    assert timed.view(at(30))["status"] == "InProgress"
    view = timed.view(at(62))
    assert (view["status"], view["details"]) == ("TimedOut", "ExecutionTimedOut")
    summary = commands.command_status([slow.view(at(121)), failing.view(at(121))])
    assert (summary["status"], summary["completed"], summary["errors"]) == ("Failed", 2, 1)
