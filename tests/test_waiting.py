"""Waits measure: bounded polls on a condition that ask at once, back off to a bound, and
never sleep when the answer is already there (issue 9 §6)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from botocore.exceptions import WaiterError

from ssmlab import replay, waiting
from ssmlab.errors import LabError
from ssmlab.preflight import AMI_PARAMETER
from fault_injection import account  # noqa: F401 - the stand-in account fixture

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


class FakeTime:
    """A clock that moves only when slept on: the pauses a wait would make, instantly."""

    def __init__(self):
        self.now, self.slept = 0.0, []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_pauses_double_from_the_first_up_to_the_bound():
    pauses = waiting.delays(1, 15)
    assert [next(pauses) for _ in range(7)] == [1, 2, 4, 8, 15, 15, 15]


def test_an_answer_already_there_costs_no_sleep():
    fake = FakeTime()
    assert waiting.poll(lambda: "yes", what="x", timeout=60, first=1, most=15, progress=False,
                        clock=fake.clock, sleep=fake.sleep) == "yes"
    assert fake.slept == []


def test_a_poll_backs_off_and_gives_up_at_its_bound(capsys):
    fake = FakeTime()
    answers = []
    with pytest.raises(waiting.TimedOut) as raised:
        waiting.poll(lambda: answers.append(fake.now) or None, what="never", timeout=60, first=1,
                     most=15, clock=fake.clock, sleep=fake.sleep)
    assert fake.slept == [1, 2, 4, 8, 15, 15, 15]  # 60 s in all, the last pause cut to fit
    assert answers == [0, 1, 3, 7, 15, 30, 45, 60]  # asked at once, and once more at the end
    assert raised.value.seconds == 60
    bar = capsys.readouterr().err  # tqdm's bar, on stderr; kept full beside what follows
    assert "never" in bar and "60/60 s" in bar


def test_a_condition_that_comes_true_ends_the_wait_at_the_next_poll():
    fake = FakeTime()
    found = waiting.poll(lambda: fake.now >= 5 and fake.now, what="x", timeout=600, first=1, most=15,
                         progress=False, clock=fake.clock, sleep=fake.sleep)
    assert found == 7 and fake.slept == [1, 2, 4]


def launch(lab) -> str:
    image = lab.client("ssm").get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]
    return lab.client("ec2").run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]


def test_a_boto3_waiter_at_the_labs_pace(lab):
    instance = launch(lab)
    fake = FakeTime()
    waiting.wait(lab, "ec2", "instance_running", InstanceIds=[instance], clock=fake.clock, sleep=fake.sleep)
    assert fake.slept == []  # running already: no pause
    with pytest.raises(WaiterError, match="Max attempts exceeded"):  # never terminated: bounded
        waiting.wait(lab, "ec2", "instance_terminated", InstanceIds=[instance], timeout=5,
                     clock=fake.clock, sleep=fake.sleep)
    assert sum(fake.slept) == 5 and fake.slept[:3] == [0.1, 0.2, 0.4]  # offline pace
    lab.client("ec2").terminate_instances(InstanceIds=[instance])
    fake.slept.clear()
    with pytest.raises(WaiterError, match="terminal failure state"):  # the waiter's own verdict
        waiting.wait(lab, "ec2", "instance_running", InstanceIds=[instance], clock=fake.clock,
                     sleep=fake.sleep)
    assert fake.slept == []  # at once, not after the time-out


def instance_of(lab) -> str:
    stack = lab.client("cloudformation").describe_stacks(StackName=lab.name("stack-for-ec2"))["Stacks"][0]
    return stack["Outputs"][0]["OutputValue"]


def test_after_a_reboot_the_wait_is_for_a_later_report(lab):
    replay.rebuild(lab, 7)  # the policy is attached: Online
    instance = instance_of(lab)
    before = waiting.last_ping(lab, instance)
    assert isinstance(before, datetime)
    lab.client("ec2").reboot_instances(InstanceIds=[instance])
    info = waiting.wait_for_managed_instance(lab, instance, after=before, progress=False)
    assert info["PingStatus"] == "Online" and info["LastPingDateTime"] > before

    # A report that never comes later than `after`: Online all along, yet the wait fails.
    fake = FakeTime()
    with pytest.raises(LabError, match=f"^{instance} did not become a managed instance within 1 minute"):
        waiting.wait_for_managed_instance(lab, instance, after=datetime.now(timezone.utc) + timedelta(days=1),
                                          timeout=60, progress=False, clock=fake.clock, sleep=fake.sleep)
    assert sum(fake.slept) == 60


def test_an_instance_never_registered_has_no_last_report(lab):
    replay.rebuild(lab, 6)  # before the policy: not managed
    assert waiting.last_ping(lab, instance_of(lab)) is None
    assert waiting.managed_instance(lab, instance_of(lab)) is None


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")), ids=lambda p: p.name[:2])
def test_no_lesson_sleeps_a_fixed_time(path):
    """A fixed sleep proves nothing: lessons wait for a condition (STYLE.md, "Waiting")."""
    cells = json.loads(path.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert not [c for c in code if re.search(r"\bsleep\s*\(|^\s*!\s*sleep\b", c, re.M)]


def test_on_the_aws_backend_polls_back_off_from_1_s_to_15_s(account):  # noqa: F811
    """Real time on a real account: asked at once, then 1, 2, 4, 8, 15, 15 ... s apart."""
    import ssmlab

    lab = ssmlab.start("aws", quiet=True)
    instance = launch(lab)
    fake = FakeTime()
    waiting.wait(lab, "ec2", "instance_running", InstanceIds=[instance], clock=fake.clock, sleep=fake.sleep)
    assert fake.slept == []  # the stand-in answers at once: no sleep
    with pytest.raises(WaiterError, match="Max attempts exceeded"):
        waiting.wait(lab, "ec2", "instance_stopped", InstanceIds=[instance], timeout=60,
                     clock=fake.clock, sleep=fake.sleep)
    assert fake.slept == [1, 2, 4, 8, 15, 15, 15]
