"""The offline lab's clock: virtual time, so the simulated world is deterministic.

On AWS time passes by itself; offline it passes only when something lets it
(docs/aws-facts.md#time-and-the-agent-clock):

- every request to the offline endpoint moves the clock on by :data:`REQUEST_STEP`
  (one second: about the pace of a learner's successive calls; it is also what lets an
  agent that holds its control channel open run a command before the next poll, as on AWS
  where delivery over that channel is near-immediate);
- ``lab.wait(minutes=30)`` moves it on at once by the whole amount;
- ``ssmlab.waiting.wait_for_managed_instance`` offline moves it on step by step until
  the instance is Online or the wait's bound is reached, instead of sleeping.

Nothing else moves it: real seconds spent between cells are not counted, so a lesson's
story is the same on every run. Each move lets the simulated agents catch up (the
listeners registered with :meth:`VirtualClock.on_advance`), in order, event by event,
before the next request is answered. moto's own dates (LaunchTime, CreateDate) keep the
wall clock; the simulation's (LastPingDateTime, command dates, the agent log) use this one.
"""

from __future__ import annotations

import secrets
import threading
import contextvars
from datetime import datetime, timedelta, timezone
from typing import Callable

from ..errors import LabError
from ..i18n import _

#: How far each request to the offline endpoint moves the clock.
REQUEST_STEP = timedelta(seconds=1)
#: The longest single wait the lab accepts (a day), so a typo cannot stall a notebook.
MAX_WAIT = timedelta(days=1)


def check_wait(seconds: float) -> float:
    """``seconds`` as a float, or LabError when it is negative, not a number or too long."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds != seconds:
        raise LabError(_("A wait is a number of seconds or minutes, not {seconds!r}.").format(seconds=seconds))
    if seconds < 0:
        raise LabError(_("A wait cannot be negative ({seconds:g} s): time only moves forward.").format(
            seconds=seconds))
    if seconds > MAX_WAIT.total_seconds():
        raise LabError(
            _("A wait of {hours:g} hours is longer than the lab allows at once "
              "({most:g} hours): wait in shorter steps.").format(
                hours=seconds / 3600, most=MAX_WAIT.total_seconds() / 3600)
        )
    return float(seconds)


class VirtualClock:
    """A clock that moves only when told to; listeners catch up after each move."""

    def __init__(self, start: datetime | None = None):
        self._lock = threading.RLock()
        self.lock = self._lock  # shared with the simulated agents (agent.World)
        self._listeners: list[Callable[[datetime], None]] = []
        self.reset(start)

    def reset(self, start: datetime | None = None) -> None:
        """Start again at ``start`` (default: the wall clock now, to the second)."""
        with self._lock:
            moment = start or datetime.now(timezone.utc)
            self._now = moment.replace(microsecond=0)
            self.started = self._now

    def now(self) -> datetime:
        with self._lock:
            return self._now

    @property
    def elapsed(self) -> timedelta:
        """Virtual time since the last reset."""
        return self.now() - self.started

    def on_advance(self, listener: Callable[[datetime], None]) -> None:
        """Call ``listener(now)`` after every move (once per listener)."""
        with self._lock:
            if listener not in self._listeners:
                self._listeners.append(listener)

    def advance(self, seconds: float | timedelta) -> datetime:
        """Move on by ``seconds``, letting listeners catch up; return the new time."""
        step = seconds if isinstance(seconds, timedelta) else timedelta(seconds=check_wait(seconds))
        with self._lock:
            self.catch_up()  # the world as it stands now decides what happens next
            self._now += step
            self.catch_up()
            return self._now

    def catch_up(self) -> None:
        """Let every listener process what is due up to now."""
        with self._lock:
            for listener in list(self._listeners):
                listener(self._now)

    def tick(self) -> datetime:
        """One request's worth of time (:data:`REQUEST_STEP`)."""
        return self.advance(REQUEST_STEP)

    def wait(self, seconds: float) -> datetime:
        """``lab.wait`` offline: the whole amount at once."""
        return self.advance(check_wait(seconds))

    def run_until(self, condition: Callable[[], bool], *, timeout: float, step: float) -> bool:
        """Move on ``step`` seconds at a time until ``condition()`` holds or ``timeout``
        seconds have passed; whether it held."""
        deadline = self.now() + timedelta(seconds=check_wait(timeout))
        while True:
            if condition():
                return True
            if self.now() >= deadline:
                return False
            self.advance(min(timedelta(seconds=step), deadline - self.now()))


#: The process's clock, like moto's backends: one per process, reset with the lab.
CLOCK = VirtualClock()


def now() -> datetime:
    return CLOCK.now()


def install() -> None:
    """Nothing to patch: the clock is moved by ``ticking`` (installed by ``ssmlab.offline``)."""


def reset() -> None:
    CLOCK.reset()


#: The endpoint (``http://host:port``) whose request is moving the clock: work that falls
#: due during the tick (a command an instance runs, calling the lab back with the AWS CLI)
#: reaches the lab there, outside moto's own request context.
SERVING: contextvars.ContextVar[str | None] = contextvars.ContextVar("ssmlab_serving", default=None)


#: What the simulated instance's AWS CLI adds to its User-Agent (``instance_aws``).
INSTANCE_USER_AGENT = "ssmlab-instance"
#: What the simulated instance's AWS CLI sends (header ``x-ssmlab-instance``) with the
#: instance's account (``x-moto-account-id``): a room's endpoint lets only that header,
#: with this process's own unguessable value, choose an account (``room_guard``).
INSTANCE_TOKEN = secrets.token_hex(16)


def ticking(app):
    """WSGI middleware: each request to the offline endpoint moves the clock on one step
    before it is answered (moto's own ``/moto-api`` requests do not)."""

    def application(environ, start_response):
        host = environ.get("HTTP_HOST")
        token = SERVING.set(f"{environ.get('wsgi.url_scheme', 'http')}://{host}" if host else None)
        try:
            # The instance's own AWS CLI calls back while a tick runs its command: that call
            # is part of the same moment, and ticking again would wait on the tick itself.
            during_a_tick = INSTANCE_USER_AGENT in environ.get("HTTP_USER_AGENT", "")
            if not environ.get("PATH_INFO", "").startswith("/moto-api") and not during_a_tick:
                CLOCK.tick()
        finally:
            SERVING.reset(token)
        return app(environ, start_response)

    return application
