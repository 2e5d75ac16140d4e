"""The one place that chooses between the offline lab and a real AWS account.

``start()`` decides the backend (argument, else ``SSMLAB_BACKEND``, else offline) and
returns a :class:`Lab`: a boto3 session and clients bound to that backend, the
environment the ``aws`` CLI uses (applied to this process, so ``!aws`` in a notebook cell
talks to the same place), and the names the lessons use.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import botocore.config

from . import aws_cli
from .errors import LabError
from .naming import TAG_KEY, default_prefix, lab_name
from .scrub import for_display

BACKENDS = ("offline", "aws")
DEFAULT_REGION = "us-east-1"
#: The offline lab's learner: an IAM user of the lab account whose access key the lab's
#: clients and ``!aws`` cells use, so ``get-caller-identity`` answers as AWS would
#: (``arn:aws:iam::123456789012:user/learner``) and trust policies can name it.
LEARNER = "learner"

#: Environment variables that could send a request elsewhere than the offline endpoint,
#: or pick real credentials, and are therefore removed while the offline lab runs.
_REDIRECTING_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_CA_BUNDLE",
)

_endpoint = None  # the process's OfflineEndpoint, started by the first offline lab
#: For each variable the lab changed: (the learner's value, the lab's value).
_saved_environ: dict[str, tuple[str | None, str | None]] | None = None
_current: "Lab | None" = None


class RealClock:
    """Real time, for ``lab.wait`` on a real account: a bounded sleep with a tqdm bar."""

    #: The longest wait accepted at once (a day), as offline.
    MAX_SECONDS = 24 * 3600

    def __init__(self, sleep=None):
        import time

        self._sleep = sleep or time.sleep

    def wait(self, seconds: float, *, progress: bool = True) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= self.MAX_SECONDS:
            raise LabError(
                f"A wait is between 0 seconds and {self.MAX_SECONDS // 3600} hours, not {seconds!r}: "
                "wait in shorter steps."
            )
        from tqdm.auto import tqdm

        with tqdm(total=int(seconds), unit="s", disable=not progress, leave=False, desc="waiting") as bar:
            left = float(seconds)
            while left > 0:
                step = min(1.0, left)
                self._sleep(step)
                left -= step
                bar.update(min(int(seconds - left), int(seconds)) - bar.n)


@dataclass
class Lab:
    """A running lab. Lessons use ``lab.client(...)``, ``lab.name(...)`` and ``!aws``."""

    backend: str
    region: str
    account_id: str
    session: boto3.Session = field(repr=False)
    env: dict = field(repr=False)
    endpoint: str | None = None
    prefix: str = ""
    caller_arn: str = ""
    _clients: dict = field(default_factory=dict, repr=False)

    @property
    def offline(self) -> bool:
        return self.backend == "offline"

    def client(self, service: str):
        """A boto3 client for ``service`` on this lab's backend (one per service)."""
        if service not in self._clients:
            config = botocore.config.Config(retries={"mode": "adaptive", "max_attempts": 10})
            self._clients[service] = self.session.client(
                service, endpoint_url=self.endpoint, config=config
            )
        return self._clients[service]

    def name(self, base: str) -> str:
        """The name a lesson uses: the blog's own offline, prefixed per user on AWS."""
        return lab_name(base, self.prefix)

    @property
    def tags(self) -> list[dict]:
        """The tag every resource the lab creates on a real account carries."""
        return [{"Key": TAG_KEY, "Value": self.prefix.rstrip("-") or "offline"}]

    def cleanup(self, *, dry_run: bool = False, all_users: bool = False):
        """Remove what the lab created (its prefix and ``ssmlab:lab`` tag), printing each.

        ``dry_run`` only lists it; ``all_users`` covers every ``ssmlab-*`` prefix. Safe to
        run again. Returns a report (``.removed``, ``.kept``, ``.failed``).
        """
        from .cleanup import cleanup

        return cleanup(self, dry_run=dry_run, all_users=all_users)

    def diagnose(self, instance_id: str, *, table: bool = True) -> None:
        """Print what ``sudo ssm-cli get-diagnostics --output table`` and the agent's log
        would show on an offline lab instance (``table=False``: the log only).

        Only the offline lab has an instance to look into: on a real account, start AWS's
        runbook ``AWSSupport-TroubleshootManagedInstance`` instead.
        """
        if not self.offline:
            raise LabError(
                "lab.diagnose() reads the simulated instance of the offline lab; on a real account run "
                "`aws ssm start-automation-execution --document-name AWSSupport-TroubleshootManagedInstance "
                f"--parameters InstanceId={instance_id}` and read its report in the Systems Manager console."
            )
        from .simulation.diagnostics import diagnose

        print(diagnose(self.account_id, self.region, instance_id, table=table), end="")

    @property
    def clock(self):
        """The lab's clock: virtual time offline (``simulation/clock.py``), real time on AWS."""
        if self.offline:
            from .simulation.clock import CLOCK

            return CLOCK
        return RealClock()

    def simulated_ping_status(self, instance_id: str) -> str | None:
        """Offline: the PingStatus Systems Manager shows for ``instance_id`` by the lab clock's
        now (Online, ConnectionLost, or None), read from the simulated agent without a request."""
        if not self.offline:
            raise LabError("Only the offline lab has a simulated agent; ask describe-instance-information.")
        from .simulation import agent

        return agent.observe(self.account_id, self.region, instance_id).ping_status

    def wait(self, *, minutes: float = 0, seconds: float = 0, progress: bool = True) -> None:
        """Let time pass: ``lab.wait(minutes=30)``. Offline the lab clock moves on at once
        (agents back off, heartbeats go late, commands time out, as they would in that
        time); on a real account this sleeps, with a progress bar, at most a day."""
        for value in (minutes, seconds):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise LabError(f"lab.wait takes numbers: lab.wait(minutes=30) or lab.wait(seconds=90), not {value!r}.")
        self.clock.wait(minutes * 60 + seconds, **({} if self.offline else {"progress": progress}))

    def __str__(self) -> str:
        where = "offline lab (moto on loopback)" if self.offline else "REAL AWS account"
        account = self.account_id if self.offline else for_display(self.account_id)
        return f"ssmlab {where}: account {account}, region {self.region}"


def _offline_environ(endpoint: str, region: str, config_dir: Path) -> dict[str, str]:
    """The variables that make the AWS CLI and SDKs talk to the offline endpoint only."""
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config").write_text(f"[default]\nregion = {region}\noutput = json\n")
    (config_dir / "credentials").write_text("")
    no_proxy = ",".join(
        filter(None, ["127.0.0.1", "localhost", os.environ.get("NO_PROXY", "")])
    )
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        # A config file of the lab's own: the learner's ~/.aws files are never read.
        "AWS_CONFIG_FILE": str(config_dir / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(config_dir / "credentials"),
        # Never ask the instance metadata service (169.254.169.254) for credentials.
        "AWS_EC2_METADATA_DISABLED": "true",
        # A proxy must not carry loopback requests elsewhere.
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
        "AWS_PAGER": "",
    }


def _apply_environ(changes: dict[str, str | None]) -> None:
    """Change os.environ, remembering the learner's values to restore at stop()."""
    global _saved_environ
    if _saved_environ is None:
        _saved_environ = {}
    for key, value in changes.items():
        original = _saved_environ[key][0] if key in _saved_environ else os.environ.get(key)
        _saved_environ[key] = (original, value)
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _restore_environ() -> None:
    """Give back the learner's values, except where they changed a variable since."""
    global _saved_environ
    for key, (original, ours) in (_saved_environ or {}).items():
        if os.environ.get(key) != ours:
            continue  # set by the learner after the lab: theirs now
        if original is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = original
    _saved_environ = None


def _with_interpreter_on_path() -> dict[str, str]:
    """``!aws`` must find the ``aws`` installed beside this kernel's Python."""
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bindir in path.split(os.pathsep):
        return {}
    return {"PATH": os.pathsep.join([bindir, path]) if path else bindir}


def _start_offline(region: str, seed: int | None, port: int = 0) -> Lab:
    global _endpoint
    from . import offline

    if _endpoint is None:
        _endpoint = offline.OfflineEndpoint(port=port)
    _endpoint.reset(offline.DEFAULT_SEED if seed is None else seed, region)
    config_dir = Path(tempfile.gettempdir()) / f"ssmlab-{os.getpid()}"
    changes: dict[str, str | None] = {key: None for key in _REDIRECTING_VARIABLES}
    changes.update(
        {key: None for key in os.environ if key.startswith("AWS_ENDPOINT_URL_")}
    )
    changes.update(_offline_environ(_endpoint.url, region, config_dir))
    changes.update(_with_interpreter_on_path())
    _apply_environ(changes)  # before any client exists: no profile or real key is read
    key = _endpoint.create_learner(LEARNER)
    _apply_environ(
        {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    )
    session = boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name=region,
    )
    return Lab(
        backend="offline",
        region=region,
        account_id=offline.ACCOUNT_ID,
        session=session,
        env=dict(os.environ),
        endpoint=_endpoint.url,
        caller_arn=f"arn:aws:iam::{offline.ACCOUNT_ID}:user/{LEARNER}",
    )


def _start_aws(region: str | None, prefix: str | None) -> Lab:
    from .account import confirm_account

    # A real account: the standard chain decides credentials, region and endpoint.
    _restore_environ()
    _apply_environ(_with_interpreter_on_path())
    # AWS_REGION, which the other SDKs and AWS CLI v2 read, counts as it does there.
    region = region or os.environ.get("AWS_REGION")
    session = boto3.Session(region_name=region) if region else boto3.Session()
    identity = confirm_account(session)
    prefix = prefix if prefix is not None else os.environ.get("SSMLAB_PREFIX") or default_prefix()
    lab = Lab(
        backend="aws",
        region=session.region_name,
        account_id=identity["Account"],
        session=session,
        env=dict(os.environ),
        endpoint=None,
        prefix=prefix,
        caller_arn=identity["Arn"],
    )
    _tag_what_the_lab_creates(lab)
    from . import preflight, waiting

    waiting.install(lab)  # retry EC2 on IAM's eventual-consistency errors (AWS-FACTS §6)
    preflight.refuse_bad_input(lab)  # before anything is created
    return lab


#: Create calls of the lessons, and the parameter each takes tags in.
_TAGGED_CREATES = {
    "iam.CreateRole": "Tags",
    "iam.CreateInstanceProfile": "Tags",
    "iam.CreatePolicy": "Tags",
    "cloudformation.CreateStack": "Tags",
}


def _tag_what_the_lab_creates(lab: Lab) -> None:
    """Add the ``ssmlab:lab`` tag to every create call made through the lab's clients."""

    def add_tags(params, **_):
        tags = params.setdefault("Tags", [])
        if not any(tag.get("Key") == TAG_KEY for tag in tags):
            tags.extend(lab.tags)

    def add_tag_specifications(params, **_):
        specs = params.setdefault("TagSpecifications", [])
        for resource_type in ("instance", "volume"):
            spec = next((s for s in specs if s.get("ResourceType") == resource_type), None)
            if spec is None:
                spec = {"ResourceType": resource_type, "Tags": []}
                specs.append(spec)
            if not any(tag.get("Key") == TAG_KEY for tag in spec["Tags"]):
                spec["Tags"].extend(lab.tags)

    for operation in _TAGGED_CREATES:
        lab.session.events.register(f"provide-client-params.{operation}", add_tags)
    lab.session.events.register("provide-client-params.ec2.RunInstances", add_tag_specifications)


def start(
    backend: str | None = None,
    *,
    region: str | None = None,
    lesson: int | None = None,
    seed: int | None = None,
    prefix: str | None = None,
    port: int = 0,
    quiet: bool = False,
) -> Lab:
    """Start a lab and make it the one ``!aws`` cells and lab clients talk to.

    ``backend`` is ``"offline"`` (the default: moto on 127.0.0.1, no AWS account) or
    ``"aws"`` (a real account, only once ``SSMLAB_AWS_ACCOUNT`` confirms it). Calling it
    again gives a fresh lab. ``lesson=N`` first rebuilds what lessons before N left.
    ``port`` (offline) is where the endpoint listens when this call starts it (0: any
    free port).
    """
    global _current
    chosen = (backend or os.environ.get("SSMLAB_BACKEND") or "offline").strip().lower()
    if chosen not in BACKENDS:
        raise LabError(
            f"Unknown backend {chosen!r}: use 'offline' (the default, no AWS account) or "
            f"'aws' (a real account you confirm with SSMLAB_AWS_ACCOUNT)."
        )
    if chosen == "offline":
        lab = _start_offline(
            region or DEFAULT_REGION, seed, port
        )
    else:
        lab = _start_aws(region, prefix)
    _current = lab
    aws_cli.install()  # plain `!aws` lines go to a ready AWS CLI (see aws_cli)
    if lesson is not None:
        from .replay import rebuild

        rebuild(lab, lesson)
    if not quiet:
        print(lab)
        if not lab.offline:
            print(f"Caller: {for_display(lab.caller_arn)}\nNames start with {lab.prefix!r}; "
                  f"everything created is tagged {TAG_KEY}.")
    return lab


def current() -> Lab | None:
    """The lab started last in this process, if any."""
    return _current


def stop() -> None:
    """Stop the offline endpoint and give the process its environment back."""
    global _endpoint, _current
    if _endpoint is not None:
        _endpoint.stop()
        _endpoint = None
    _restore_environ()
    aws_cli.uninstall()
    _current = None
