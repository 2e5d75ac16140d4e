"""Bounds on what a simulated instance runs (docs/aws-facts.md#bounds-on-what-an-instance-runs):
a script that would run for ever ends at its executionTimeout as the agent ends it, one
that would grow without bound stops with one ``ssmlab:`` line, and neither takes the
process's memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmlab.simulation import shell_bounds
from ssmlab.simulation.instance_shell import NOT_SIMULATED, InstanceShell
from test_instance_shell_properties import make_shell

COMMAND_ID = "c0ffee00-0000-4000-8000-000000000000"


def run_command(lines: list[str], timeout: float) -> tuple[InstanceShell, object]:
    """``lines`` as AWS-RunShellScript runs them with executionTimeout ``timeout``."""
    shell = make_shell()
    shell = InstanceShell(shell.state, COMMAND_ID, facts=shell.facts, execution_timeout=timeout)
    return shell, shell.run(lines)


timeouts = st.integers(min_value=shell_bounds.MIN_EXECUTION_TIMEOUT, max_value=30)


@settings(max_examples=25, deadline=None)
@given(timeouts, st.integers(min_value=1, max_value=10**6))
def test_a_sleep_past_the_execution_timeout_is_timed_out_with_what_came_before(timeout, extra):
    shell, result = run_command(["echo start", f"sleep {timeout + extra}", "echo never"], timeout)
    assert shell.timed_out
    assert (result.stdout, result.exit_code) == ("start\n", shell_bounds.STOPPED_PREEMPTIVELY)
    assert "failed to run commands" not in result.stderr  # runscript.go: not for TimedOut
    assert result.duration > timeout


@settings(max_examples=20, deadline=None)
@given(timeouts, st.integers(min_value=2, max_value=40), st.integers(min_value=2, max_value=3))
def test_nested_loops_that_outlast_the_timeout_stop_there(timeout, width, depth):
    # width ** depth iterations of one echo: more commands than the timeout allows.
    words = " ".join(f"w{n}" for n in range(width))
    names = [f"v{d}" for d in range(depth)]
    script = "".join(f"for {n} in {words}; do " for n in names)
    script += "echo " + "".join(f"${n}" for n in names) + "; done" * depth
    runs = width ** depth
    everything = make_shell().run_script(script).stdout  # no timeout: the whole output
    shell, result = run_command([script], timeout)
    if (runs + depth) * shell_bounds.COMMAND_SECONDS <= timeout:
        assert (result.stdout, result.exit_code) == (everything, 0)
    else:
        assert shell.timed_out and result.exit_code == shell_bounds.STOPPED_PREEMPTIVELY
        assert everything.startswith(result.stdout) and len(result.stdout) < len(everything)
        echoed = result.stdout.count("\n")
        assert echoed <= timeout / shell_bounds.COMMAND_SECONDS


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=20, max_value=60), st.sampled_from(["x=$x$x", 'x="$x$x"', "x=$x$x$x$x"]))
def test_a_value_that_doubles_stops_at_the_memory_bound(doublings, step):
    shell, result = run_command(["x=ab"] + [step] * doublings + ["echo never"], 3600)
    assert result.exit_code == NOT_SIMULATED and not shell.timed_out
    assert result.stdout == ""
    assert result.stderr.startswith("ssmlab: a value of more than 1,000,000 characters")
    assert result.stderr.endswith(f"failed to run commands: exit status {NOT_SIMULATED}")


def test_output_past_the_bound_keeps_its_beginning_in_run_command():
    # 2,000 lines of 1,000 characters: twice what the lab keeps; the API shows 24,000.
    line = "y" * 999
    shell, result = run_command([f"x={line}", "for i in " + "a " * 2000 + "; do echo $x; done"], 3600)
    assert result.exit_code == 0
    assert len(result.stdout) == shell_bounds.MAX_VALUE
    assert result.stdout.startswith(line + "\n" + line + "\n")


def test_a_capture_past_the_bound_stops_the_script():
    shell, result = run_command([f"x={'y' * 999}", "v=$(for i in " + "a " * 2000 + "; do echo $x; done)",
                                 "echo never"], 3600)
    assert result.exit_code == NOT_SIMULATED
    assert "never" not in result.stdout


def test_a_file_appended_past_the_bound_stops_the_script():
    shell, result = run_command([f"x={'y' * 999}", "for i in " + "a " * 2000 + "; do echo $x >> /tmp/f; done"],
                                3600)
    assert result.exit_code == NOT_SIMULATED
    assert len(shell.files["/tmp/f"]) <= shell_bounds.MAX_VALUE


def test_past_the_most_commands_a_script_says_so(monkeypatch):
    monkeypatch.setattr(shell_bounds, "MAX_COMMANDS", 500)
    words = " ".join(["a"] * 100)
    shell, result = run_command([f"for i in {words}; do for j in {words}; do true; done; done"],
                                shell_bounds.MAX_EXECUTION_TIMEOUT)
    assert result.exit_code == NOT_SIMULATED and not shell.timed_out
    assert result.stderr.startswith("ssmlab: the script ran 500 commands")
    assert "until its timeout of 172,800 s" in result.stderr


def session_shell() -> InstanceShell:
    base = make_shell()
    return InstanceShell(base.state, user="ssm-user", facts=base.facts,
                         idle_timeout=shell_bounds.IDLE_SESSION_TIMEOUT)


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=1, max_value=10**6))
def test_a_session_line_past_the_idle_timeout_ends_the_session(extra):
    shell = session_shell()
    result = shell.run_script(f"echo typed; sleep {shell_bounds.IDLE_SESSION_TIMEOUT + extra}; echo never")
    assert shell.ended and result.stdout == "typed\n"
    assert result.stderr == shell_bounds.idle_line()


def test_the_idle_timer_starts_again_with_each_line():
    shell = session_shell()
    almost = shell_bounds.IDLE_SESSION_TIMEOUT - 1
    assert shell.run_script(f"cd /tmp; sleep {almost}; echo one").stdout == "one\n"
    assert shell.run_script(f"sleep {almost}; pwd").stdout == "/tmp\n"
    assert not shell.ended


def test_a_session_loop_that_outlasts_the_idle_timeout_ends_the_session(lab):
    from test_agent import launch, make_profile

    session = lab.start_session(launch(lab, make_profile(lab)))
    words = " ".join(["a"] * 400)
    output = session.run(f"for i in {words}; do for j in {words}; do echo $i; done; done")
    assert session.ended
    assert output.endswith(shell_bounds.idle_line())
    echoed = output.count("a\n")
    assert echoed == shell_bounds.IDLE_SESSION_TIMEOUT / shell_bounds.COMMAND_SECONDS


def test_past_the_most_commands_a_shell_without_a_timeout_says_so(monkeypatch):
    monkeypatch.setattr(shell_bounds, "MAX_COMMANDS", 300)
    base = make_shell()
    shell = InstanceShell(base.state, user="ssm-user", facts=base.facts)  # no timeout at all
    words = " ".join(["a"] * 30)
    result = shell.run_script(f"cd /tmp; for i in {words}; do for j in {words}; do echo $i; done; done")
    assert result.exit_code == NOT_SIMULATED and not shell.ended
    assert result.stderr.startswith("ssmlab: the script ran 300 commands")
    assert result.stdout == "a\n" * 299  # 300 commands: cd and 299 echoes, then the bound
    assert shell.run_script("pwd").stdout == "/tmp\n"  # the next line runs, state kept


def test_nesting_deeper_than_the_interpreter_follows_is_one_line():
    result = make_shell().run_script("(" * 400 + "echo deep" + ")" * 400)
    assert result.exit_code in (0, NOT_SIMULATED)
    if result.exit_code == NOT_SIMULATED:
        assert result.stderr.startswith("ssmlab: ")


@pytest.mark.parametrize("value, seconds", [
    (None, 3600), ("60", 60), (["60"], 60), ("4", 3600), ("172801", 3600), ("abc", 3600), (172800, 172800)])
def test_execution_timeout_is_read_as_the_agent_reads_it(value, seconds):
    assert shell_bounds.execution_timeout(value) == seconds


def test_gnu_sleep_arguments_add_up():
    assert shell_bounds.sleep_seconds(["1m", "30", ".5s"]) == 90.5
    assert shell_bounds.sleep_seconds(["infinity"]) == float("inf")
    assert shell_bounds.sleep_seconds(["soon"]) is None


def test_run_command_ends_timed_out_through_the_api(lab):
    from test_agent import launch, make_profile

    instance = launch(lab, make_profile(lab))
    ssm = lab.client("ssm")
    command = ssm.send_command(
        InstanceIds=[instance], DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["echo started", "sleep infinity"], "executionTimeout": ["30"]},
    )["Command"]
    ask = lambda: ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=instance)  # noqa: E731
    assert ask()["Status"] in ("Pending", "InProgress")
    lab.wait(seconds=10)
    assert ask()["Status"] == "InProgress"
    lab.wait(seconds=30)
    done = ask()
    assert (done["Status"], done["StatusDetails"], done["ResponseCode"]) == ("TimedOut", "ExecutionTimedOut", 137)
    assert done["StandardOutputContent"] == "started\n"
    assert done["ExecutionElapsedTime"] == "PT30.000S"
    listed = ssm.list_commands(CommandId=command["CommandId"])["Commands"][0]
    assert listed["Status"] == "Failed" and listed["ErrorCount"] == 1


# A value of 524,288 characters, used a thousand times in one command: each would hold
# more than 500 MB if the command's words, output or input were not bounded as a whole.
HALF_MEGA = ["x=ab"] + ["x=$x$x"] * 18
MANY_COPIES = {
    "words": HALF_MEGA + ["echo " + "$x " * 1000],
    "for": HALF_MEGA + ["for i in " + "$x " * 1000 + "; do true; done"],
    "printf": HALF_MEGA + ['printf "%s$x" ' + "a " * 1000],  # the format again for each argument
    "cat": HALF_MEGA + ["echo $x > /tmp/f", "cat " + "/tmp/f " * 1000],
    "grep": HALF_MEGA + ["echo $x > /tmp/f", "grep -c y " + "/tmp/f " * 1000],
    "here-document": HALF_MEGA + ["cat <<EOF\n" + "$x" * 1000 + "\nEOF"],
}


@pytest.mark.parametrize("name", sorted(MANY_COPIES))
def test_one_command_cannot_hold_a_value_many_times(name):
    shell, result = run_command(MANY_COPIES[name], 3600)
    assert result.exit_code == NOT_SIMULATED, result.stderr[-300:]
    assert "ssmlab: a value of more than 1,000,000 characters" in result.stderr
    assert len(result.stdout) <= shell_bounds.MAX_VALUE


# The worst cases found, each in a process whose address space is capped: they end, and
# the process never needs more than the cap.
WORST_CASES = list(MANY_COPIES.values()) + [
    ["x=ab"] + ["x=$x$x$x$x"] * 40,
    [f"x={'y' * 999}", "for i in " + "a " * 3000 + "; do echo $x; echo $x >&2; done"],
    [f"x={'y' * 999}", "for i in " + "a " * 3000 + "; do echo $x >> /tmp/f; done"],
    [f"x={'y' * 999}", "v=$(for i in " + "a " * 3000 + "; do echo $x; done)"],
    ['x="' + "a " * 1000 + '"', "for i in $x; do for j in $x; do for k in $x; do echo $i$j$k; done; done; done"],
    ["'${'#"],  # bashlex 0.18 allocated without end on this one (bashlex_fixes)
    ["sleep infinity"],
]
CEILING = 512 * 2**20


def test_the_worst_cases_stay_under_a_memory_ceiling(tmp_path):
    program = textwrap.dedent(f"""
        import json, resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({CEILING}, {CEILING}))
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_instance_shell_properties import make_shell
        from ssmlab.simulation.instance_shell import InstanceShell
        base = make_shell()
        codes = []
        for lines in json.load(open(sys.argv[1])):
            for timeout in (3600, None):
                shell = InstanceShell(base.state, {COMMAND_ID!r} if timeout else None, facts=base.facts,
                                      execution_timeout=timeout, idle_timeout=1200,
                                      user="root" if timeout else "ssm-user")
                result = shell.run(lines) if timeout else shell.run_script("\\n".join(lines))
                codes.append(result.exit_code)
        print(json.dumps(codes))
    """)
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps(WORST_CASES))
    done = subprocess.run([sys.executable, "-c", program, str(cases)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    codes = json.loads(done.stdout)
    assert len(codes) == 2 * len(WORST_CASES)
    assert all(0 <= code <= 255 for code in codes)
    assert shell_bounds.STOPPED_PREEMPTIVELY in codes and NOT_SIMULATED in codes


def test_a_long_script_with_a_syntax_error_at_its_end_runs_what_comes_before():
    # The search for where bash stops parses each complete part once (it was every prefix
    # of the script: a 4,000-line script meant 4,000 parses of up to 4,000 lines).
    shell, result = run_command(["echo a"] * 4000 + ["fi"], 3600)
    assert result.stdout == "a\n" * 4000
    assert "line 4001: syntax error near unexpected token `fi'" in result.stderr
    assert result.exit_code == 2


def test_an_unfinished_construct_too_long_to_search_is_one_line():
    shell, result = run_command(["if true; then"] + ["echo a"] * 3000, 3600)
    assert result.exit_code == NOT_SIMULATED and result.stdout == ""
    assert result.stderr.startswith("ssmlab: this script has a syntax error after a construct too long")


def test_a_script_longer_than_the_lab_reads_is_one_line():
    shell, result = run_command(["echo " + "a" * shell_bounds.MAX_SCRIPT], 3600)
    assert result.exit_code == NOT_SIMULATED
    assert result.stderr.startswith("ssmlab: a script of more than 100,000 characters is not simulated")


def test_the_aws_cli_calls_of_one_script_are_bounded(monkeypatch):
    monkeypatch.setattr(shell_bounds, "MAX_AWS_CALLS", 3)
    shell, result = run_command(["for i in a b c d e; do aws --version; done", "echo never"], 3600)
    assert result.exit_code == NOT_SIMULATED and "never" not in result.stdout
    assert result.stderr.startswith("ssmlab: the script called the AWS CLI 3 times, the most")


def test_time_the_script_spends_shows_in_date():
    base = make_shell()
    started = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    shell = InstanceShell(base.state, COMMAND_ID, facts=base.facts, execution_timeout=3600, now=lambda: started)
    result = shell.run(["date -u", "sleep 90", "date -u"])
    assert result.stdout == "Thu Jan  1 12:00:00 UTC 2026\nThu Jan  1 12:01:30 UTC 2026\n"


def test_sleep_for_ever_without_a_timeout_is_one_line():
    base = make_shell()
    result = InstanceShell(base.state, user="ssm-user", facts=base.facts).run_script("sleep infinity; echo x")
    assert result.exit_code == NOT_SIMULATED and result.stdout == ""
    assert result.stderr.startswith("ssmlab: `sleep infinity` with no timeout to end it")
