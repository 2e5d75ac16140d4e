"""The offline lab: one server per process, fresh and seeded on every start()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import urlparse

import pytest

import ssmlab
from ssmlab import LabError
from ssmlab.lab import current

TRUST_EC2 = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})


def test_start_is_offline_on_loopback_by_default(lab, capsys):
    lab = ssmlab.start()
    assert capsys.readouterr().out == (
        "ssmlab offline lab (moto on loopback): account 123456789012, region us-east-1\n"
    )
    assert lab.offline and lab.account_id == "123456789012" and lab.region == "us-east-1"
    assert urlparse(lab.endpoint).hostname == "127.0.0.1"
    # `!aws` in a cell inherits os.environ: it must point at the same endpoint.
    assert os.environ["AWS_ENDPOINT_URL"] == lab.endpoint
    assert os.environ["AWS_REGION"] == "us-east-1"


def test_start_again_is_a_fresh_lab_on_the_same_server(lab):
    lab.client("iam").create_role(RoleName="role-for-ec2", AssumeRolePolicyDocument=TRUST_EC2)
    again = ssmlab.start(quiet=True)
    assert again.endpoint == lab.endpoint
    assert again.client("iam").list_roles()["Roles"] == []
    assert current() is again


def test_ids_repeat_from_lab_to_lab(lab):
    def ids(lab):
        role = lab.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument=TRUST_EC2)
        vpc = lab.client("ec2").describe_vpcs()["Vpcs"][0]["VpcId"]
        return role["Role"]["RoleId"], vpc

    first = ids(lab)
    assert ids(ssmlab.start(quiet=True)) == first
    assert ids(ssmlab.start(quiet=True, seed=7)) != first


def test_the_aws_cli_answers_from_the_lab(lab, aws):
    lab.client("iam").create_role(RoleName="role-for-ec2", AssumeRolePolicyDocument=TRUST_EC2)
    result = aws("iam", "list-roles", "--query", "Roles[].RoleName", "--output", "text", check=True)
    assert result.stdout.split() == ["role-for-ec2"]
    identity = json.loads(aws("sts", "get-caller-identity", check=True).stdout)
    assert identity["Arn"] == "arn:aws:iam::123456789012:user/learner"


def test_server_request_logs_never_reach_the_output(lab, capfd):
    lab.client("iam").list_roles()
    subprocess.run(["aws", "iam", "list-roles"], env=lab.env, capture_output=True)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_managed_policies_are_loaded(lab):
    policy = lab.client("iam").get_policy(
        PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    )["Policy"]
    assert policy["PolicyName"] == "AmazonSSMManagedInstanceCore"


def test_unknown_backend_is_one_sentence_and_changes_nothing(lab):
    with pytest.raises(LabError, match=r"Unknown backend 'moto': use 'offline'.*'aws'"):
        ssmlab.start("moto")
    assert current() is lab
    assert os.environ["AWS_ENDPOINT_URL"] == lab.endpoint


def test_lab_error_renders_without_traceback_in_ipython():
    assert LabError("Do this.")._render_traceback_() == ["LabError: Do this."]


def test_offline_names_are_the_blogs(lab):
    assert lab.name("role-for-ec2") == "role-for-ec2"
    with pytest.raises(LabError, match="letters, digits and hyphens"):
        lab.name("role for ec2")


def test_stop_gives_the_environment_back(monkeypatch):
    ssmlab.stop()
    monkeypatch.setenv("AWS_PROFILE", "mine")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    ssmlab.start(quiet=True)
    assert "AWS_PROFILE" not in os.environ
    ssmlab.stop()
    assert os.environ["AWS_PROFILE"] == "mine"
    assert "AWS_ENDPOINT_URL" not in os.environ


def test_a_variable_the_learner_sets_after_start_is_kept(monkeypatch):
    ssmlab.stop()
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    ssmlab.start(quiet=True)
    os.environ["AWS_PROFILE"] = "sandbox"
    ssmlab.stop()
    assert os.environ.pop("AWS_PROFILE") == "sandbox"


def test_cloudformation_is_imported_without_the_rfc3987_grammar_which_stays_importable():
    # offline._jsonschema_without_rfc3987_syntax: moto's CloudFormation imports jsonschema
    # without building rfc3987_syntax's grammar, and only that import is affected.
    code = (
        "import sys, ssmlab\n"
        "lab = ssmlab.start(quiet=True, lesson=4)\n"  # lessons 03+ need a stack
        "assert lab.client('cloudformation').describe_stacks()['Stacks'], 'no stack'\n"
        "assert 'jsonschema' in sys.modules, 'moto.cloudformation did not import jsonschema'\n"
        "assert 'rfc3987_syntax' not in sys.modules, 'the grammar was built'\n"
        "import rfc3987_syntax\n"
        "print(rfc3987_syntax.is_valid_syntax('iri', 'https://example.com/a'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
