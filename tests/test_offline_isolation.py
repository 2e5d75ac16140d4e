"""Offline mode never reaches AWS, even with real-looking credentials, a profile and a
config file in the environment that would send requests elsewhere."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import boto3
import pytest

import ssmlab

GUARD = Path(__file__).parent / "loopback_guard"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture
def real_looking_environment(tmp_path, monkeypatch):
    """What a learner's shell may hold: keys, a profile, a config with endpoints."""
    (tmp_path / "config").write_text(
        "[profile work]\nregion = eu-west-1\nendpoint_url = https://aws.example.com\n"
        "[default]\nregion = eu-west-1\n"
    )
    (tmp_path / "credentials").write_text(
        "[work]\naws_access_key_id = AKIAREALLOOKINGKEY01\naws_secret_access_key = x\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_PROFILE", "work")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALLOOKINGKEY02")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-looking-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "real-looking-token")
    monkeypatch.setenv("AWS_ENDPOINT_URL_IAM", "https://iam.example.com")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example.com:3128")
    yield tmp_path
    # Give the learner's variables back while they are still set, before monkeypatch
    # removes them; otherwise a later stop() would restore them into other tests.
    ssmlab.stop()


@pytest.fixture
def connections(monkeypatch):
    """Every host this process looks up or connects to during the test."""
    seen: list[str] = []
    original_connect = socket.socket.connect
    original_getaddrinfo = socket.getaddrinfo

    def record(host):
        seen.append(str(host))
        if str(host) not in LOOPBACK:
            raise OSError(f"test guard: {host} is outside loopback")

    def recording_getaddrinfo(host, *args, **kwargs):
        if host is not None:
            record(host)
        return original_getaddrinfo(host, *args, **kwargs)

    def recording_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            record(address[0])
        return original_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", recording_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", recording_connect)
    return seen


def test_lab_clients_and_plain_boto3_stay_on_loopback(real_looking_environment, connections):
    lab = ssmlab.start(quiet=True)
    lab.client("iam").list_roles()
    lab.client("sts").get_caller_identity()
    lab.client("ec2").describe_vpcs()
    # A learner's own client, made the usual way after start(), lands in the lab too.
    assert boto3.client("iam").list_roles()["Roles"] == []
    assert connections, "the calls above made no connection at all"
    assert set(connections) <= LOOPBACK


def test_aws_cli_stays_on_loopback(real_looking_environment, tmp_path):
    lab = ssmlab.start(quiet=True)
    log = tmp_path / "non-loopback.log"
    log.write_text("")
    env = dict(lab.env, PYTHONPATH=str(GUARD), SSMLAB_GUARD_LOG=str(log))
    for command in (["sts", "get-caller-identity"], ["iam", "list-roles"], ["ec2", "describe-vpcs"]):
        result = subprocess.run(["aws", *command], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    assert '"Arn": "arn:aws:iam::123456789012:user/learner"' in subprocess.run(
        ["aws", "sts", "get-caller-identity"], env=env, capture_output=True, text=True
    ).stdout
    assert log.read_text() == ""


def test_the_aws_cli_helper_stays_on_loopback(real_looking_environment, tmp_path, monkeypatch, capsys):
    # What a plain `!aws` line runs while a lab is started (ssmlab.aws_cli): a child forked
    # from the helper process, which loaded the guard when it started.
    from ssmlab import aws_cli

    log = tmp_path / "non-loopback.log"
    log.write_text("")
    aws_cli.uninstall()  # the next run starts a helper with the guard in its environment
    monkeypatch.setenv("PYTHONPATH", str(GUARD))
    monkeypatch.setenv("SSMLAB_GUARD_LOG", str(log))
    try:
        ssmlab.start(quiet=True)
        for command in (["sts", "get-caller-identity"], ["iam", "list-roles"], ["ec2", "describe-vpcs"]):
            assert aws_cli.run(command) == 0, capsys.readouterr().err
        assert '"Arn": "arn:aws:iam::123456789012:user/learner"' in capsys.readouterr().out
        assert log.read_text() == ""
        # The control: the guard is live in the helper's children.
        assert aws_cli.run(["sts", "get-caller-identity", "--endpoint-url", "https://sts.amazonaws.com",
                            "--cli-connect-timeout", "1"]) != 0
        assert log.read_text().strip()  # (the proxy of the real-looking environment, or AWS)
    finally:
        aws_cli.uninstall()  # later tests get a helper without the guard


def test_the_guard_itself_catches_a_real_endpoint(tmp_path):
    """The guard above must be able to fail: without the lab, the CLI goes elsewhere."""
    log = tmp_path / "non-loopback.log"
    log.write_text("")
    env = {
        "PATH": str(Path(__import__("sys").executable).parent),
        "PYTHONPATH": str(GUARD),
        "SSMLAB_GUARD_LOG": str(log),
        "AWS_ACCESS_KEY_ID": "AKIAREALLOOKINGKEY03",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }
    result = subprocess.run(["aws", "sts", "get-caller-identity"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert log.read_text().strip(), "the guard saw no connection outside loopback"


# ------------------------------------------------ what the environment held before start()


def test_a_stale_profile_at_import_time_does_not_stop_the_lab(tmp_path):
    """AWS_PROFILE naming a profile that exists nowhere (moto's import reads it), with the
    loopback guard loaded into that Python: the lab starts, and stays on loopback."""
    log = tmp_path / "non-loopback.log"
    log.write_text("")
    script = (
        "import ssmlab, boto3\n"
        "lab = ssmlab.start(quiet=True)\n"
        "print(lab.client('sts').get_caller_identity()['Arn'])\n"
        "print(boto3.client('iam').list_roles()['Roles'])\n"
        "ssmlab.stop()\n"
    )
    env = {
        "PATH": str(Path(__import__("sys").executable).parent),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(GUARD),
        "SSMLAB_GUARD_LOG": str(log),
        "AWS_PROFILE": "nope",
        "AWS_DEFAULT_PROFILE": "nope-either",
        "AWS_CONFIG_FILE": str(tmp_path / "missing-config"),
    }
    result = subprocess.run([__import__("sys").executable, "-c", script], env=env,
                            capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["arn:aws:iam::123456789012:user/learner", "[]"]
    assert log.read_text() == ""


def test_clients_and_the_default_session_made_before_start_reach_only_the_lab(real_looking_environment,
                                                                             connections):
    ssmlab.stop()
    boto3.setup_default_session(profile_name="work")  # its endpoints, keys and a proxy
    default_before = boto3.DEFAULT_SESSION
    early = boto3.client("iam")
    early_sts = boto3.client("sts", endpoint_url="https://sts.amazonaws.com", region_name="us-east-1")
    assert early.meta.endpoint_url == "https://iam.example.com"  # AWS_ENDPOINT_URL_IAM
    try:
        lab = ssmlab.start(quiet=True)
        for client in (early, early_sts):
            with pytest.raises(ssmlab.LabError, match=r"made before ssmlab.start\(\) and points at"):
                client.get_caller_identity() if client is early_sts else client.list_roles()
        # boto3's default session is new while the lab runs: the lab's learner, on loopback.
        assert boto3.client("sts").get_caller_identity()["Arn"] == lab.caller_arn
        assert set(connections) <= LOOPBACK
        assert connections, "the calls above made no connection at all"
    finally:
        ssmlab.stop()
    assert boto3.DEFAULT_SESSION is default_before  # given back
    # The guard is gone with the lab: the early client tries its own endpoint again
    # (the test's guard refuses it, so nothing leaves this machine).
    with pytest.raises(Exception) as raised:
        early.list_roles()
    assert not isinstance(raised.value, ssmlab.LabError)
    assert {"iam.example.com", "proxy.example.com"} & set(connections)
    boto3.DEFAULT_SESSION = None


def test_stop_gives_the_environment_back_exactly_and_removes_its_folder(real_looking_environment):
    import os

    ssmlab.stop()
    before = dict(os.environ)
    first = ssmlab.start(quiet=True)
    folder = Path(first.env["AWS_CONFIG_FILE"]).parent
    assert folder.is_dir() and os.environ["AWS_ENDPOINT_URL"] == first.endpoint
    second = ssmlab.start(quiet=True, region="eu-west-1")  # a second start, same stop
    assert Path(second.env["AWS_CONFIG_FILE"]).parent == folder
    ssmlab.stop()
    assert dict(os.environ) == before
    assert "MOTO_IAM_LOAD_MANAGED_POLICIES" not in os.environ or "MOTO_IAM_LOAD_MANAGED_POLICIES" in before
    assert not folder.exists()
    # Each start/stop leaves nothing behind.
    for _ in range(2):
        lab = ssmlab.start(quiet=True)
        folder = Path(lab.env["AWS_CONFIG_FILE"]).parent
        ssmlab.stop()
        assert not folder.exists() and dict(os.environ) == before


def test_the_managed_policies_are_there_without_moto_s_variable(lab):
    import os

    assert "MOTO_IAM_LOAD_MANAGED_POLICIES" not in os.environ
    policy = lab.client("iam").get_policy(PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
    assert policy["Policy"]["PolicyName"] == "AmazonSSMManagedInstanceCore"
