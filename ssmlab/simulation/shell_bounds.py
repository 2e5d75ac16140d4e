"""Bounds on what a simulated instance runs (docs/aws-facts.md#bounds-on-what-an-instance-runs).

A learner's script never exhausts the process that serves the lab:

- **time**: each simple command the shell runs costs :data:`COMMAND_SECONDS` of the lab's
  clock, ``sleep N`` costs N seconds; under Run Command a script whose time passes its
  ``executionTimeout`` is stopped there, as the agent kills it, and its invocation ends
  ``TimedOut`` (``ExecutionTimedOut``) with exit code 137 and the output written so far;
- a line typed in a Session Manager shell, which has no execution timeout, runs until
  Session Manager's idle session timeout (:data:`IDLE_SESSION_TIMEOUT`): no input comes
  from the client while it runs, so the session ends there;
- **commands**: at most :data:`MAX_COMMANDS` in one script or line (a timeout above
  ``MAX_COMMANDS * COMMAND_SECONDS`` is not simulated to its end), of which at most
  :data:`MAX_AWS_CALLS` run the AWS CLI (each one is a request to the lab);
- **memory**: no one value (a word, a variable, a command's output, a file) grows past
  :data:`MAX_VALUE` characters.

Past a bound other than the timeout, the script stops with one ``ssmlab:`` line and the
lab's exit code for what it does not simulate.
"""

from __future__ import annotations

import math
import re

from ..i18n import _
from .shell_result import NOT_SIMULATED, Result

#: The lab's cost of one simple command: about a fork and exec of a small program.
COMMAND_SECONDS = 0.01
#: The most commands one Run Command script runs: 4,000 s at COMMAND_SECONDS, past the
#: default executionTimeout (3600 s); about 4 s of the lab's CPU.
MAX_COMMANDS = 400_000
#: Session Manager's default idle session timeout: 20 minutes without input from the
#: client (Session Manager User Guide, "Specify an idle session timeout value").
IDLE_SESSION_TIMEOUT = 20 * 60
#: The most AWS CLI calls one script or line makes: each is a request the lab answers
#: (about 11 ms of its CPU), so about 11 s.
MAX_AWS_CALLS = 1_000
#: The longest value the shell keeps, in characters.
MAX_VALUE = 1_000_000
#: The longest script (or typed line) the shell reads: bashlex parses about 70,000
#: characters a second, so about 1.5 s of the lab's CPU.
MAX_SCRIPT = 100_000
#: How many characters the shell parses again to find where a syntax error starts.
MAX_SEARCH = 3 * MAX_SCRIPT
#: The exit code the agent gives a script it stopped (agent/appconfig/constants_unix.go:97,
#: CommandStoppedPreemptivelyExitCode: 128 + SIGKILL).
STOPPED_PREEMPTIVELY = 137
#: The agent's bounds on executionTimeout, and its default
#: (agent/plugins/pluginutil/pluginutil.go:37-39).
DEFAULT_EXECUTION_TIMEOUT, MIN_EXECUTION_TIMEOUT, MAX_EXECUTION_TIMEOUT = 3600, 5, 172800


def execution_timeout(value) -> int:
    """AWS-RunShellScript's ``executionTimeout`` as the agent reads it
    (agent/plugins/pluginutil/pluginutil.go:138-158, ValidateExecutionTimeout): a whole
    number of seconds; one outside 5..172800, or none, is the default 3600."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    try:
        seconds = int(float(value)) if isinstance(value, (int, float)) else int(str(value).strip())
    except (TypeError, ValueError, OverflowError):
        return DEFAULT_EXECUTION_TIMEOUT
    if not MIN_EXECUTION_TIMEOUT <= seconds <= MAX_EXECUTION_TIMEOUT:
        return DEFAULT_EXECUTION_TIMEOUT
    return seconds


_SLEEP_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def sleep_seconds(args: list[str]) -> float | None:
    """How long GNU ``sleep ARG...`` sleeps: the sum of NUMBER[smhd] (``inf`` for ever);
    None for what the lab does not read."""
    if not args:
        return None
    total = 0.0
    for arg in args:
        match = re.fullmatch(r"(inf(?:inity)?|\d+(?:\.\d*)?|\.\d+)([smhd]?)", arg)
        if not match:
            return None
        number = math.inf if match.group(1).startswith("inf") else float(match.group(1))
        total += number * _SLEEP_UNITS[match.group(2)]
    return total


class TimedOut(Exception):
    """The script's time passed its executionTimeout (the agent stops it here), or a
    session line's passed the idle session timeout (Session Manager ends the session)."""


class Stopped(Exception):
    """A bound of the offline lab ends the script: ``result`` is its one line."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.result = Result("", text, NOT_SIMULATED)


def too_big() -> Stopped:
    return Stopped(_(
        "ssmlab: a value of more than {limit:,} characters (a word, a variable, a command's output "
        "or a file) is not modelled by ssmlab's offline lab; the script stops here (exit {code})\n"
    ).format(limit=MAX_VALUE, code=NOT_SIMULATED))


def too_long() -> Stopped:
    return Stopped(_(
        "ssmlab: a script of more than {limit:,} characters is not simulated by ssmlab's offline lab "
        "(exit {code})\n"
    ).format(limit=MAX_SCRIPT, code=NOT_SIMULATED))


def too_long_to_search() -> Stopped:
    return Stopped(_(
        "ssmlab: this script has a syntax error after a construct too long for the offline lab to "
        "search for where bash would stop; not simulated (exit {code})\n"
    ).format(code=NOT_SIMULATED))


def too_deep() -> Stopped:
    return Stopped(_(
        "ssmlab: commands nested deeper than the offline lab's interpreter follows are not "
        "modelled; the script stops here (exit {code})\n"
    ).format(code=NOT_SIMULATED))


def idle_line() -> str:
    return _("ssmlab: no input came for {minutes:g} minutes while this line ran: Session Manager's idle "
             "session timeout (its default) ends the session\n").format(minutes=IDLE_SESSION_TIMEOUT / 60)


def dropped_line() -> str:
    return _("ssmlab: the offline lab keeps the first {limit:,} characters of what one line writes; "
             "the rest is not shown\n").format(limit=MAX_VALUE)


def grow(total: int, added) -> int:
    """``total`` characters so far plus ``added`` (a text or a list of texts), with
    :func:`too_big` raised past :data:`MAX_VALUE` (the words of one command, what one
    command writes)."""
    total += len(added) if isinstance(added, str) else sum(map(len, added))
    if total > MAX_VALUE:
        raise too_big()
    return total


def check_size(text: str) -> str:
    """``text``, or :func:`too_big` raised when it is longer than :data:`MAX_VALUE`."""
    if len(text) > MAX_VALUE:
        raise too_big()
    return text


class Budget:
    """Time and commands one script (Run Command) or one line (Session Manager) may spend.

    ``timeout``: the invocation's executionTimeout, or a session's idle timeout, in seconds;
    None: no bound on time (commands are still bounded)."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.most = MAX_COMMANDS
        self.reset()

    def reset(self) -> None:
        self.seconds = 0.0
        self.commands = 0
        self.aws_calls = 0

    def aws_call(self) -> None:
        """The AWS CLI on the instance is about to call the lab."""
        self.aws_calls += 1
        if self.aws_calls > MAX_AWS_CALLS:
            raise Stopped(_(
                "ssmlab: the script called the AWS CLI {most:,} times, the most the offline lab answers "
                "for one script or line (not simulated, exit {code})\n"
            ).format(most=MAX_AWS_CALLS, code=NOT_SIMULATED))

    def command(self) -> None:
        """One simple command starts."""
        self.commands += 1
        if self.commands > self.most:
            raise Stopped(self._stop_line())
        self.spend(COMMAND_SECONDS)

    def spend(self, seconds: float) -> None:
        if self.timeout is not None and self.seconds + seconds > self.timeout:
            self.seconds += seconds
            raise TimedOut()
        if seconds == math.inf:  # nothing would ever stop it
            raise Stopped(_(
                "ssmlab: `sleep infinity` with no timeout to end it is not simulated by ssmlab's offline "
                "lab (exit {code})\n").format(code=NOT_SIMULATED))
        self.seconds += seconds

    def _stop_line(self) -> str:
        values = dict(most=self.most, seconds=self.seconds, each=COMMAND_SECONDS, code=NOT_SIMULATED)
        if self.timeout is None:
            return _(
                "ssmlab: the script ran {most:,} commands ({seconds:,.0f} s of the lab's clock at {each:g} s "
                "each), the most the offline lab runs at once; on the instance it would run on (not "
                "simulated, exit {code})\n"
            ).format(**values)
        return _(
            "ssmlab: the script ran {most:,} commands ({seconds:,.0f} s of the lab's clock at {each:g} s "
            "each), the most the offline lab runs at once; on the instance it would run until its "
            "timeout of {timeout:,.0f} s (not simulated, exit {code})\n"
        ).format(timeout=self.timeout, **values)
