"""In real mode no display the lab makes shows the account id, and no widget state holds it.

A stand-in account (tests/fault_injection.py) that answers as account 210987654321
(moto's ``MOTO_ACCOUNT_ID``): every display is rendered — ``print(lab)`` and the caller
line, the lab map, checker feedback, the check box, the trust-policy builder, the waits'
errors, preflight, clean-up, ``LabError`` texts — and the id must not appear; with
``SSMLAB_SHOW_ACCOUNT=1`` the text displays show it. The widgets' state is what
JupyterLab saves in the notebook (``ipywidgets.embed.dependency_state``): never the id.
"""

from __future__ import annotations

import json

import pytest

import ssmlab
from fault_injection import account  # noqa: F401
from ssmlab import checks, preflight, waiting
from ssmlab.errors import LabError

REAL = "210987654321"
MASKED = "********4321"


@pytest.fixture
def real(account, monkeypatch):
    monkeypatch.setenv("MOTO_ACCOUNT_ID", REAL)
    monkeypatch.setenv("SSMLAB_AWS_ACCOUNT", REAL)
    return account


def widget_state(widget) -> str:
    from ipywidgets.embed import dependency_state

    return json.dumps(dependency_state([widget]), default=str)


def test_print_lab_and_the_caller_line(real, monkeypatch, capsys):
    lab = ssmlab.start("aws", lesson=2)
    out = capsys.readouterr().out
    assert lab.account_id == REAL and REAL in lab.caller_arn  # the stand-in is that account
    assert REAL not in out and MASKED in out
    assert REAL not in str(lab) and REAL not in repr(lab)
    monkeypatch.setenv("SSMLAB_SHOW_ACCOUNT", "1")
    ssmlab.start("aws")
    assert REAL in capsys.readouterr().out


def test_the_lab_map(real, monkeypatch):
    from ssmlab.widgets import LabMap, LabMapModel

    lab = ssmlab.start("aws", lesson=7, quiet=True)
    model = LabMapModel(lab)
    model.refresh()
    assert model.text().startswith(f"Lab map (real AWS account, account {MASKED}, eu-west-1):")
    view = LabMap(lab)
    for shown in (view.text(), repr(view), view._repr_mimebundle_()["text/plain"], widget_state(view)):
        assert REAL not in shown
    monkeypatch.setenv("SSMLAB_SHOW_ACCOUNT", "1")
    assert REAL in model.text()
    view.refresh()
    assert REAL not in widget_state(view)  # saved in the notebook: masked even so


def test_checker_feedback_and_the_check_box(real, monkeypatch):
    from ssmlab.widgets import CheckBox

    lab = ssmlab.start("aws", quiet=True)
    # The learner trusted their account's root where only they were asked for.
    root = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "AWS": f"arn:aws:iam::{REAL}:user/someone"}, "Action": "sts:AssumeRole"}]})
    feedback = checks.check_trust_policy(root, for_principal=lab.caller_arn)
    assert REAL in feedback.message  # the checker is pure: its facts are whole
    assert REAL not in str(feedback) and REAL not in repr(feedback) and MASKED in str(feedback)
    box = CheckBox(checks.check_trust_policy, facts={"for_principal": lab.caller_arn}, value=root)
    box.check()
    assert REAL not in box.text() and REAL not in widget_state(box).replace(json.dumps(root)[1:-1], "")
    monkeypatch.setenv("SSMLAB_SHOW_ACCOUNT", "1")
    assert REAL in str(feedback) and REAL in box.text()
    box.check()
    assert REAL not in widget_state(box).replace(json.dumps(root)[1:-1], "")  # the learner's own answer aside


def test_the_trust_policy_builder(real, monkeypatch):
    from ssmlab.widgets import TrustPolicyBuilder

    lab = ssmlab.start("aws", lesson=3, quiet=True)
    builder = TrustPolicyBuilder(lab)
    builder._root.value = True  # this account's root: arn:aws:iam::210987654321:root
    assert REAL in builder.model.json()  # what Apply sends is whole
    result = builder.apply()
    assert result.ok, result.message
    assert REAL in json.dumps(result.document)
    for shown in (builder.text(), builder._repr_mimebundle_()["text/plain"], widget_state(builder)):
        assert REAL not in shown
        assert MASKED in shown
    monkeypatch.setenv("SSMLAB_SHOW_ACCOUNT", "1")
    assert REAL in builder.model.text()
    builder._root.value = False  # redraws
    builder._root.value = True
    assert REAL not in widget_state(builder)


def test_labError_texts_waits_and_reports(real, monkeypatch, capsys):
    # The account guard's sentence names both ids.
    monkeypatch.setenv("SSMLAB_AWS_ACCOUNT", "999988887777")
    with pytest.raises(LabError) as refused:
        ssmlab.start("aws", quiet=True)
    assert REAL not in str(refused.value) and MASKED in str(refused.value)
    assert "999988887777" not in refused.value._render_traceback_()[0]
    monkeypatch.setenv("SSMLAB_SHOW_ACCOUNT", "1")
    with pytest.raises(LabError, match=REAL):
        ssmlab.start("aws", quiet=True)
    monkeypatch.delenv("SSMLAB_SHOW_ACCOUNT")

    # A wait that ends in a failed stack: CloudFormation's reason names an ARN. (The
    # stand-in rolls stacks back in its default account only: the ARN is REAL's anyway.)
    monkeypatch.delenv("MOTO_ACCOUNT_ID")
    monkeypatch.setenv("SSMLAB_AWS_ACCOUNT", "123456789012")
    lab = ssmlab.start("aws", lesson=3, quiet=True)
    real.faults.roll_back_stacks(1, f"User: arn:aws:sts::{REAL}:assumed-role/x/y is not authorized "
                                    f"to perform: ec2:RunInstances")
    from ssmlab import replay, templates

    n = replay.names(lab)
    with pytest.raises(LabError) as failed:
        waiting.create_stack(lab, StackName=n["STACK"], TemplateBody=templates.EC2_INSTANCE_PROFILE.read_text(),
                             Parameters=[{"ParameterKey": "InstanceProfileName", "ParameterValue": n["PROFILE"]},
                                         {"ParameterKey": "LabTag", "ParameterValue": lab.tags[0]["Value"]}],
                             Tags=lab.tags)
    assert "is not authorized" in str(failed.value)
    assert REAL not in str(failed.value) and MASKED in str(failed.value)

    # Preflight and clean-up reports, and the refusal of lab.diagnose().
    monkeypatch.setenv("MOTO_ACCOUNT_ID", REAL)
    monkeypatch.setenv("SSMLAB_AWS_ACCOUNT", REAL)
    capsys.readouterr()
    preflight.run(print)
    lab = ssmlab.start("aws", quiet=True)
    lab.cleanup()
    with pytest.raises(LabError) as diagnose:
        lab.diagnose("i-0123456789abcdef0")
    out = capsys.readouterr().out
    assert MASKED in out and REAL not in out
    assert REAL not in str(diagnose.value)


def test_offline_nothing_is_masked(lab):
    assert "123456789012" in str(lab)
    from ssmlab.widgets import LabMapModel

    model = LabMapModel(lab)
    model.refresh()
    assert "account 123456789012" in model.text()
