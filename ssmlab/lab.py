"""The one place that chooses between the offline lab and a real AWS account.

``start()`` decides the backend (argument, else ``SSMLAB_BACKEND``, else offline) and
returns a :class:`Lab`: a boto3 session and clients bound to that backend, the
environment the ``aws`` CLI uses (applied to this process, so ``!aws`` in a notebook cell
talks to the same place), and the names the lessons use.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions
import botocore.loaders
import botocore.regions

from . import aws_cli, i18n, isolation, milestones
from .errors import LabError
from .i18n import _
from .naming import TAG_KEY, default_prefix, lab_name
from .scrub import for_display
from .simulation import world

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
_config_dir: Path | None = None  # the offline lab's AWS config folder, removed by stop()
#: boto3's default session as it was before the offline lab set it aside (stop() gives it back).
_saved_default_session: tuple[boto3.Session | None] | None = None
#: For each variable the lab changed: (the learner's value, the lab's value).
_saved_environ: dict[str, tuple[str | None, str | None]] | None = None
_current: "Lab | None" = None


def _local_lab() -> tuple[str, str, str] | None:
    """(account id, Region, endpoint URL) of the offline lab in this process, or None."""
    if _current is not None and _current.offline and _endpoint is not None:
        return _current.account_id, _current.region, _endpoint.url
    return None


world.set_local_lab(_local_lab)  # ssmlab diagnose asks it (simulation/diagnostics.py)


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
                _("A wait is between 0 seconds and {max_seconds} hours, not {seconds!r}: "
                "wait in shorter steps.").format(max_seconds=self.MAX_SECONDS // 3600, seconds=seconds)
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
            if not isinstance(service, str) or service not in self.session.get_available_services():
                raise LabError(
                    _("{service!r} is not a service name boto3 knows: use one such as 'iam', 'sts', "
                    "'ec2', 'ssm' or 'cloudformation'.").format(service=service)
                )
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
        run again. Returns a report (``.removed``, ``.kept``, ``.failed``). The files the
        lessons wrote in the current folder (``assume-role-policy.json``, ...) go too.
        """
        from .cleanup import cleanup
        from .lesson_files import remove_lesson_files

        report = cleanup(self, dry_run=dry_run, all_users=all_users)
        # The files the lessons wrote beside the notebooks (ssmlab/lesson_files.py).
        remove_lesson_files(Path.cwd(), dry_run=dry_run)
        return report

    def diagnose(self, instance_id: str, *, table: bool = True) -> None:
        """Print what ``sudo ssm-cli get-diagnostics --output table`` and the agent's log
        would show on an offline lab instance (``table=False``: the log only).

        Only the offline lab has an instance to look into: on a real account, start AWS's
        runbook ``AWSSupport-TroubleshootManagedInstance`` instead.
        """
        if not self.offline:
            raise LabError(
                _("lab.diagnose() reads the simulated instance of the offline lab; on a real account run "
                "`aws ssm start-automation-execution --document-name AWSSupport-TroubleshootManagedInstance "
                "--parameters InstanceId={instance_id}` and read its report in the Systems Manager console.").format(instance_id=instance_id)
            )
        from .simulation.diagnostics import diagnose

        print(diagnose(self.account_id, self.region, instance_id, table=table), end="")

    def start_session(self, instance_id: str):
        """A Session Manager shell as ``ssm-user`` on an offline lab instance: ``.run(line)``
        returns what it prints, ``.interact()`` is a terminal loop, ``.terminate()`` ends it.
        Raises AWS's ``TargetNotConnected`` when the instance is not managed.

        (``lab.session`` is the lab's boto3 Session, hence the name of the AWS operation.)
        """
        if not self.offline:
            raise LabError(
                _("lab.start_session() opens the simulated instance's shell of the offline lab; on a real "
                "account run `aws ssm start-session --target {instance_id}` with the session-manager-plugin.").format(instance_id=instance_id)
            )
        from .session import Session

        return Session.start(self.endpoint, self.region, self.env["AWS_ACCESS_KEY_ID"], instance_id,
                             self.env.get("AWS_SECRET_ACCESS_KEY", ""))

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
            raise LabError(_("Only the offline lab has a simulated agent; ask describe-instance-information."))
        from .simulation import agent

        return agent.observe(self.account_id, self.region, instance_id).ping_status

    def simulated_last_ping(self, instance_id: str):
        """Offline: the LastPingDateTime Systems Manager holds for ``instance_id`` by the lab
        clock's now (None before its first report), read from the simulated agent."""
        if not self.offline:
            raise LabError(_("Only the offline lab has a simulated agent; ask describe-instance-information."))
        from .simulation import agent

        return agent.observe(self.account_id, self.region, instance_id).last_ping

    def wait(self, *, minutes: float = 0, seconds: float = 0, progress: bool = True) -> None:
        """Let time pass: ``lab.wait(minutes=30)``. Offline the lab clock moves on at once
        (agents back off, heartbeats go late, commands time out, as they would in that
        time); on a real account this sleeps, with a progress bar, at most a day."""
        for value in (minutes, seconds):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise LabError(_("lab.wait takes numbers: lab.wait(minutes=30) or lab.wait(seconds=90), not {value!r}.").format(value=value))
        self.clock.wait(minutes * 60 + seconds, **({} if self.offline else {"progress": progress}))

    def __str__(self) -> str:
        where = _("offline lab (moto on loopback)") if self.offline else _("REAL AWS account")
        account = self.account_id if self.offline else for_display(self.account_id)
        return _("ssmlab {where}: account {account}, region {region}").format(where=where, account=account, region=self.region)

    def __repr__(self) -> str:  # a cell ending in `lab` shows this: masked like print(lab)
        return f"<{self}>"


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


def _set_the_learners_aws_aside() -> Path:
    """Remove what could send a request elsewhere or pick real credentials, before moto
    or boto3 read it (moto's import reads AWS_PROFILE: a stale one would stop it), and
    set boto3's default session aside. Returns the lab's AWS config folder."""
    global _config_dir, _saved_default_session
    if _config_dir is None or not _config_dir.is_dir():
        _config_dir = Path(tempfile.mkdtemp(prefix="ssmlab-"))
    changes: dict[str, str | None] = {key: None for key in _REDIRECTING_VARIABLES}
    changes.update(
        {key: None for key in os.environ if key.startswith("AWS_ENDPOINT_URL_")}
    )
    changes.update({"AWS_ENDPOINT_URL": None, "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None})
    changes.update(_offline_environ("", DEFAULT_REGION, _config_dir))
    del changes["AWS_ENDPOINT_URL"]  # set once the endpoint listens
    changes.update(_with_interpreter_on_path())
    _apply_environ(changes)
    if _saved_default_session is None:
        # A default session made before start() holds its own profile, credentials and
        # endpoint: boto3.client(...) makes a new one from the lab's environment meanwhile.
        _saved_default_session = (boto3.DEFAULT_SESSION,)
    boto3.DEFAULT_SESSION = None
    return _config_dir


def _start_offline(region: str, seed: int | None, port: int = 0) -> Lab:
    global _endpoint
    config_dir = _set_the_learners_aws_aside()
    from . import offline

    if _endpoint is not None and not _endpoint.alive():
        _endpoint.stop()  # it died: a new one replaces it
        _endpoint = None
    if _endpoint is None:
        _endpoint = offline.OfflineEndpoint(port=port)
    endpoint = _endpoint
    isolation.install(endpoint.url, endpoint.alive)
    endpoint.reset(offline.DEFAULT_SEED if seed is None else seed, region)
    _apply_environ(_offline_environ(endpoint.url, region, config_dir))
    key = endpoint.create_learner(LEARNER)
    _apply_environ(
        {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    )
    session = boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name=region,
    )

    def refuse_when_stopped(request, **_kwargs):
        # A lab client after stop(), or after its server died: one sentence at once,
        # not botocore's retries against a closed port.
        if _endpoint is None:
            raise LabError(
                _("This lab was stopped (ssmlab.stop()): start one again with "
                "`lab = ssmlab.start(lesson=N)` and make its clients with lab.client(...).")
            )
        if _endpoint is not endpoint:
            raise LabError(
                _("This lab's server was replaced by a newer ssmlab.start(): use the lab that "
                "start() returned, and make clients with its lab.client(...).")
            )
        if not endpoint.alive():
            raise LabError(isolation.dead_server_sentence())

    session.events.register("before-send", refuse_when_stopped)
    return Lab(
        backend="offline",
        region=region,
        account_id=offline.ACCOUNT_ID,
        session=session,
        env=dict(os.environ),
        endpoint=endpoint.url,
        caller_arn=f"arn:aws:iam::{offline.ACCOUNT_ID}:user/{LEARNER}",
    )


def _start_aws(region: str | None, prefix: str | None, *, refuse_lookalikes: bool = True) -> Lab:
    from . import ownership, replay
    from .account import confirm_account

    prefix = prefix if prefix is not None else os.environ.get("SSMLAB_PREFIX") or default_prefix()
    ownership.check_prefix(prefix, replay.LONGEST_BASE)  # before any call to AWS
    # A real account: the standard chain decides credentials, region and endpoint.
    _give_back_the_learners_aws()
    _apply_environ(_with_interpreter_on_path())
    # AWS_REGION, which the other SDKs and AWS CLI v2 read, counts as it does there.
    region = region or os.environ.get("AWS_REGION")
    try:
        session = boto3.Session(region_name=region) if region else boto3.Session()
        session.region_name  # noqa: B018 - reads the profile: a missing one fails here
    except botocore.exceptions.ProfileNotFound as error:
        raise LabError(_profile_not_found(error)) from None
    if session.region_name:
        _check_region(session.region_name, backend="aws")
    try:
        identity = confirm_account(session)
    except botocore.exceptions.ProfileNotFound as error:
        raise LabError(_profile_not_found(error)) from None
    if not os.environ.get("AWS_DEFAULT_REGION"):
        # `!aws` cells run AWS CLI v1, which reads AWS_DEFAULT_REGION and not AWS_REGION:
        # give it the Region the lab's clients use (docs/aws-facts.md#cli-v1-region).
        _apply_environ({"AWS_DEFAULT_REGION": session.region_name})
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
    from . import waiting

    waiting.install(lab)  # retry EC2 on IAM's eventual-consistency errors (docs/aws-facts.md#core-6)
    ownership.install(lab)  # every change through lab clients: only what the lab owns
    replay.refuse_bad_input(lab)  # before anything is created
    if refuse_lookalikes:  # a lesson name taken by something not the lab's: never adopt it
        ownership.refuse_lookalikes(lab, replay.lookalike_names(lab))
    return lab


def start_for_cleanup(region: str | None = None) -> Lab:
    """The confirmed real account's lab for ``ssmlab cleanup``: as ``start("aws")``, but a
    lesson name taken by something not the lab's does not stop it (clean-up acts only on
    what carries both marks, ``ssmlab/ownership.py``)."""
    global _current
    _current = _start_aws(region, None, refuse_lookalikes=False)
    return _current


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
    language: str | None = None,
) -> Lab:
    """Start a lab and make it the one ``!aws`` cells and lab clients talk to.

    ``backend`` is ``"offline"`` (the default: moto on 127.0.0.1, no AWS account) or
    ``"aws"`` (a real account, only once ``SSMLAB_AWS_ACCOUNT`` confirms it). Calling it
    again gives a fresh lab. ``lesson=N`` first rebuilds what lessons before N left.
    ``port`` (offline) is where the endpoint listens when this call starts it (0: any
    free port). ``language`` (``"en"``, ``"ja"``) is the one the library speaks from now on
    (``ssmlab/i18n.py``; the Japanese lessons pass ``"ja"``); left out, it stays as it is.
    """
    global _current
    if language is not None:
        i18n.set_language(language)
    chosen = _check_arguments(backend, region, lesson, seed, prefix, port)
    was_running, started = _current is not None, False
    try:
        if chosen == "offline":
            lab = _start_offline(
                region or DEFAULT_REGION, seed, port
            )
        else:
            lab = _start_aws(region, prefix)
        started = True
    finally:
        if not started and not was_running:
            stop()  # e.g. the port was taken: the environment back, nothing left running
    _current = lab
    # Plain `!aws` lines go to a ready AWS CLI (see aws_cli); a dead offline server is one
    # sentence there too.
    aws_cli.install(precheck=_dead_server_sentence if lab.offline else None)
    if lesson is not None:
        from .replay import rebuild

        rebuilt = False
        try:
            rebuild(lab, lesson)
            rebuilt = True
        finally:
            if not rebuilt:
                stop()  # a refused start leaves no lab running
    milestones.started(lesson)  # lesson-NN-started (ssmlab/milestones.py)
    if not quiet:
        print(lab)
        if not lab.offline:
            print(_("Caller: {caller}\nNames start with {prefix!r}; "
                  "everything created is tagged {tag}.").format(caller=for_display(lab.caller_arn), prefix=lab.prefix, tag=TAG_KEY))
    return lab


def _dead_server_sentence() -> str | None:
    if _endpoint is not None and not _endpoint.alive():
        return isolation.dead_server_sentence()
    return None


def _profile_not_found(error: Exception) -> str:
    profile = getattr(error, "kwargs", {}).get("profile", "?")
    return (
        f"AWS_PROFILE names the profile {profile!r}, which is not in your AWS config or "
        f"credentials file: set AWS_PROFILE to a profile that exists (`aws configure list-profiles`), "
        f"or unset it."
    )


def _endpoints_data() -> dict:
    """botocore's partitions and Regions (its ``endpoints.json``), read without a session:
    a session would read AWS_PROFILE, which may name a profile that does not exist."""
    return botocore.loaders.create_loader().load_data("endpoints")


def _check_region(region, *, backend: str) -> None:
    """LabError unless ``region`` is a Region name the backend can use (botocore's data)."""
    data = _endpoints_data()
    resolver = botocore.regions.EndpointResolver(data)
    if backend == "offline":
        # The offline lab models the aws partition (its IAM, its ARNs): its Regions.
        known = resolver.get_available_endpoints("ec2", "aws")
        if region in known:
            return
        raise LabError(
            _("Region {region!r} is not a Region of the offline lab (AWS's commercial Regions, "
            "such as us-east-1 or eu-west-1): pass one of those, or leave region out for {default_region}.").format(region=region, default_region=DEFAULT_REGION)
        )
    known = [r for p in resolver.get_available_partitions() for r in resolver.get_available_endpoints("ec2", p)]
    patterns = [p["regionRegex"] for p in data["partitions"]]
    if region in known or any(re.match(pattern, region) for pattern in patterns):
        return
    raise LabError(
        _("Region {region!r} is not an AWS Region name: set AWS_REGION (or pass region=) to one "
        "such as us-east-1; `aws ec2 describe-regions` lists your account's.").format(region=region)
    )


def _check_arguments(backend, region, lesson, seed, prefix, port) -> str:
    """The backend chosen, or LabError for an argument start() cannot use (nothing started)."""
    if backend is not None and not isinstance(backend, str):
        hint = f" For lesson {backend}, write start(lesson={backend})." if isinstance(backend, int) else ""
        raise LabError(
            _("start()'s first argument is the backend, 'offline' or 'aws', not {backend!r}.{hint}").format(backend=backend, hint=hint)
        )
    chosen = (backend or os.environ.get("SSMLAB_BACKEND") or "offline").strip().lower()
    if chosen not in BACKENDS:
        raise LabError(
            _("Unknown backend {chosen!r}: use 'offline' (the default, no AWS account) or "
            "'aws' (a real account you confirm with SSMLAB_AWS_ACCOUNT).").format(chosen=chosen)
        )
    if lesson is not None:
        from .replay import LESSONS

        if isinstance(lesson, bool) or not isinstance(lesson, int) or lesson not in LESSONS:
            raise LabError(
                _("There is no lesson {lesson!r}: use a lesson number from {start} to "
                "{last}, as in the notebook's file name.").format(lesson=lesson, start=LESSONS.start, last=LESSONS.stop - 1)
            )
    if region is not None:
        if not isinstance(region, str) or not region.strip():
            raise LabError(_("region is a Region name such as 'us-east-1', not {region!r}.").format(region=region))
        _check_region(region, backend=chosen)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise LabError(_("seed is a whole number (the same seed gives the same ids), not {seed!r}.").format(seed=seed))
    if prefix is not None and not isinstance(prefix, str):
        raise LabError(_("prefix is text such as 'ssmlab-ada-', not {prefix!r}.").format(prefix=prefix))
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise LabError(
            _("Port {port!r} is not a TCP port: choose one from 1 to 65535, or 0 for any free port.").format(port=port)
        )
    return chosen


def check_arguments(backend: str | None = None, *, region=None, lesson=None, seed=None,
                    prefix=None, port: int = 0) -> str:
    """What start() checks before it starts anything: the backend chosen, or LabError."""
    return _check_arguments(backend, region, lesson, seed, prefix, port)


def current() -> Lab | None:
    """The lab started last in this process, if any."""
    return _current


def _give_back_the_learners_aws() -> None:
    """The learner's variables and boto3's default session, as they were before the offline lab."""
    global _saved_default_session
    isolation.uninstall()
    _restore_environ()
    if _saved_default_session is not None:
        boto3.DEFAULT_SESSION = _saved_default_session[0]
        _saved_default_session = None


def stop() -> None:
    """Stop the offline endpoint and give the process back its environment, exactly, and
    boto3's default session; remove the lab's AWS config folder."""
    global _endpoint, _current, _config_dir
    if _endpoint is not None:
        _endpoint.stop()
        _endpoint = None
    _give_back_the_learners_aws()
    if _config_dir is not None:
        shutil.rmtree(_config_dir, ignore_errors=True)
        _config_dir = None
    aws_cli.uninstall()
    _current = None
