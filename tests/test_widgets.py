"""The widgets' models, without a browser; and the views' text forms and wiring, without a front end.

The trust-policy builder must judge a policy exactly as the offline lab's CreateRole does;
the lab map must name the broken link of each lesson's state, offline (the simulation's
verdicts) and through the real-account path (what the APIs report), and both must agree.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import ssmlab
from ssmlab import checks
from ssmlab.checks import Feedback
from ssmlab.replay import CORE_POLICY, EC2, SSM, names, trust_policy
from ssmlab.widgets import CheckModel, LabMapModel, TrustPolicyModel
from ssmlab.widgets import lab_map as lm


def at_lesson(n: int):
    """A fresh offline lab in the state lesson ``n`` starts from."""
    return ssmlab.start(lesson=n, quiet=True)


# ------------------------------------------------------------------------------ models


def test_models_import_no_ipywidgets():
    code = (
        "import sys; import ssmlab.widgets; "
        "from ssmlab.widgets import TrustPolicyModel, LabMapModel, CheckModel, ProfileMapModel; "
        "assert 'ipywidgets' not in sys.modules, 'a model imported ipywidgets'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_default_policy_is_the_blogs():
    model = TrustPolicyModel()
    assert model.document() == json.loads(trust_policy(EC2))
    assert model.validate().ok
    assert model.for_instance().ok


def test_each_choice_is_explained_in_one_sentence():
    model = TrustPolicyModel(learner_arn="arn:aws:iam::123456789012:user/learner")
    model.services = [EC2, SSM]
    model.account_root = model.learner = True
    model.other_account = "210987654321"
    model.actions = ["sts:AssumeRole", "sts:TagSession"]
    lines = model.explanations()
    assert len(lines) == 7
    assert lines[1].startswith("ssm.amazonaws.com: ") and "never needs it" in lines[1]
    assert all(line.count(". ") == 0 for line in lines), lines
    assert TrustPolicyModel(services=[], actions=[]).explanations()[0].startswith("Nothing chosen")


def test_principals_and_actions_are_written_as_aws_writes_them():
    model = TrustPolicyModel(services=[SSM, EC2], account_root=True)
    statement = model.document()["Statement"][0]
    assert statement["Principal"] == {"Service": [EC2, SSM], "AWS": "arn:aws:iam::123456789012:root"}
    assert statement["Action"] == "sts:AssumeRole"
    assert "Resource" not in statement


CHOICES = {
    "default": {},
    "both services": {"services": [EC2, SSM]},
    "no principal": {"services": []},
    "no action": {"actions": []},
    "a permission as action": {"actions": ["sts:AssumeRole", "ssm:*"]},
    "the lab account": {"services": [], "account_root": True},
    "the learner": {"services": [], "learner": True},
    "an account id": {"other_account": "210987654321"},
    "a short account id": {"other_account": "1234"},
    "an unknown user": {"other_account": "arn:aws:iam::123456789012:user/nobody"},
}


@pytest.mark.parametrize("name", CHOICES)
def test_builder_judges_as_createrole_does(lab, name):
    """Same rules as the lab: CreateRole accepts the document exactly when the builder does."""
    from botocore.exceptions import ClientError

    model = TrustPolicyModel(account_id=lab.account_id, learner_arn=lab.caller_arn, **CHOICES[name])
    verdict = model.validate()
    try:
        lab.client("iam").create_role(RoleName=f"probe-{len(name)}", AssumeRolePolicyDocument=model.json())
        accepted, message = True, ""
    except ClientError as error:
        accepted, message = False, error.response["Error"]["Message"]
        assert error.response["Error"]["Code"] == "MalformedPolicyDocument"
    assert verdict.ok == accepted, (verdict, message)
    if not accepted:
        assert verdict.message.endswith(message)


def test_on_a_real_account_identities_are_left_to_aws():
    model = TrustPolicyModel(account_id="111122223333", learner=True, offline=False,
                             learner_arn="arn:aws:iam::111122223333:user/bob", services=[])
    verdict = model.validate()
    assert verdict.ok and "arn:aws:iam::111122223333:user/bob exists" in verdict.message
    assert model.document()["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::111122223333:user/bob"}
    offline = TrustPolicyModel(account_id="111122223333", learner=True,
                               learner_arn="arn:aws:iam::111122223333:user/bob", services=[])
    assert not offline.validate().ok  # offline, the lab knows bob does not exist


def test_text_form_is_deterministic_and_complete():
    model = TrustPolicyModel(services=[SSM])
    text = model.text()
    assert text == TrustPolicyModel(services=[SSM]).text()
    assert model.json() in text
    assert "IAM (CreateRole's rules): ✓ accepted" in text
    assert "For an EC2 instance's role: ✗ ssm.amazonaws.com trusts Systems Manager itself" in text


def test_apply_shows_aws_answer(lab):
    at = at_lesson(3)
    iam, role = at.client("iam"), names(at)["ROLE"]
    result = TrustPolicyModel(services=[EC2, SSM]).apply(iam, role)
    assert result.ok and "HTTP 200" in result.message
    assert result.document["Statement"][0]["Principal"]["Service"] == [EC2, SSM]
    refused = TrustPolicyModel(actions=["ssm:*"]).apply(iam, role)
    assert not refused.ok and refused.message.startswith("MalformedPolicyDocument: Trust Policy statement actions")
    missing = TrustPolicyModel().apply(iam, "no-such-role")
    assert not missing.ok and missing.message.startswith("NoSuchEntity")


# -------------------------------------------------------------------------- lab map


def _oks(model: LabMapModel) -> dict[str, bool]:
    return {link.name: link.ok for link in model.links}


def test_lab_map_before_anything_exists():
    model = LabMapModel(at_lesson(0))
    model.refresh()
    assert [link.name for link in model.links] == list(lm.CHAIN)
    assert not any(_oks(model).values())
    assert model.link(lm.ROLE).reason == "no role role-for-ec2 (lesson 02 creates it)"


def test_lab_map_through_the_lessons_offline_and_the_aws_path_agree():
    lab = at_lesson(4)  # instance running, role trusts EC2, no permissions policy
    offline, aws = LabMapModel(lab), LabMapModel(lab, offline=False)
    seen = []
    offline.listeners.append(lambda m: seen.append(m.ok))
    offline.refresh(), aws.refresh()
    assert _oks(offline) == _oks(aws) == {
        lm.ROLE: True, lm.TRUST: True, lm.PERMISSIONS: False,
        lm.PROFILE: True, lm.INSTANCE: True, lm.SYSTEMS_MANAGER: False,
    }
    assert offline.link(lm.PERMISSIONS).reason == "role lacks ssm:UpdateInstanceInformation (no policy attached)"
    assert "refused ssm:UpdateInstanceInformation (AccessDeniedException)" in offline.link(lm.SYSTEMS_MANAGER).reason
    assert aws.link(lm.SYSTEMS_MANAGER).reason == (
        "not in describe-instance-information; first broken link: permissions policies"
    )
    # The lesson 06 step, then refresh: every link holds, by both paths.
    role = names(lab)["ROLE"]
    lab.client("iam").attach_role_policy(RoleName=role, PolicyArn=CORE_POLICY)
    instance = lab.client("ec2").describe_instances()["Reservations"][0]["Instances"][0]["InstanceId"]
    lab.client("ec2").reboot_instances(InstanceIds=[instance])  # the agent retries at once
    lab.wait(seconds=1)
    offline.refresh(), aws.refresh()
    assert offline.ok and aws.ok and seen == [False, True]
    assert offline.link(lm.PERMISSIONS).reason == "AmazonSSMManagedInstanceCore allows ssm:UpdateInstanceInformation"
    # Break the trust: only EC2 can hand the role to the instance.
    lab.client("iam").update_assume_role_policy(RoleName=role, PolicyDocument=trust_policy(SSM))
    lab.wait(minutes=11)  # heartbeats late: ConnectionLost
    offline.refresh(), aws.refresh()
    assert _oks(offline) == _oks(aws)
    assert not offline.link(lm.TRUST).ok and "it trusts ssm.amazonaws.com" in offline.link(lm.TRUST).reason
    assert offline.link(lm.SYSTEMS_MANAGER).reason.startswith(
        "not managed: ConnectionLost (heartbeats late): AWS Credentials: EC2 cannot assume"
    )
    text = offline.text()
    assert text.splitlines()[0] == "Lab map (offline lab, account 123456789012, us-east-1):"
    assert "✗ trust policy" in text and "✓ permissions policies" in text


def test_profile_with_another_role():
    facts = lm.Facts(profile={"Roles": [{"RoleName": "role-for-ssm"}]})
    assert lm.profile_link(facts, "role-for-ec2", "for-ec2") == lm.Link(
        lm.PROFILE, False, "for-ec2 holds role-for-ssm, not role-for-ec2"
    )


def test_aws_path_policy_evaluation():
    allow = {"Statement": [{"Effect": "Allow", "Action": "SSM:UpdateInstanceInformation", "Resource": "*"}]}
    deny = {"Statement": [{"Effect": "Deny", "Action": "ssm:*", "Resource": "*"}]}
    other = {"Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}
    assert lm.allows([allow], lm.REGISTRATION) == "allow"  # case-insensitive, as AWS
    assert lm.allows([allow, deny], lm.REGISTRATION) == "deny"
    assert lm.allows([other], lm.REGISTRATION) == "neutral"
    facts = lm.Facts(role={}, attached=[{"PolicyName": "EC2Only", "PolicyArn": "x"}])
    assert lm.permissions_link(facts, "neutral").reason == (
        "role lacks ssm:UpdateInstanceInformation (attached: EC2Only)"
    )


# ------------------------------------------------------------------------- check model


def test_check_model_wraps_a_pure_checker():
    model = CheckModel(checks.check_trust_policy)
    assert model.text() == "Check (check_trust_policy; answer: answer): not checked yet"
    feedback = model.check(checks.broken_trust_policy(seed=7))
    assert feedback == checks.check_trust_policy(checks.broken_trust_policy(seed=7))
    assert not feedback.ok and "remove Resource" in model.text()
    assert model.check(trust_policy(EC2)).ok


def test_check_model_with_several_answers_and_facts():
    def check_pair(first, second, *, expected):
        return Feedback(first + second == expected, f"{first}+{second}")

    model = CheckModel(check_pair, fields=("first", "second"), facts={"expected": "ab"})
    model.set("first", "a")
    model.set("second", "b")
    assert model.check().ok
    assert not model.check("b", "a").ok
    with pytest.raises(TypeError):
        model.check("a")
    with pytest.raises(KeyError):
        model.set("third", "c")


# ------------------------------------------------------------------------------ views


def test_views_show_their_full_text_form():
    from ssmlab.widgets import CheckBox, LabMap, TrustPolicyBuilder

    lab = at_lesson(3)
    lab_map = LabMap(lab)
    calls = []
    builder = TrustPolicyBuilder(lab, on_apply=lambda: calls.append(lab_map.refresh()))
    assert lab_map.refresh() is lab_map and [link.name for link in lab_map.links] == list(lm.CHAIN)
    for view in (lab_map, builder, CheckBox(checks.check_trust_policy)):
        bundle = view._repr_mimebundle_()
        assert bundle["text/plain"] == view.model.text() == repr(view)  # not cut at 110 characters
        assert "application/vnd.jupyter.widget-view+json" in bundle
    assert 'data-link="permissions policies" data-ok="false"' in lab_map._chain.value


def test_builder_controls_drive_the_model_and_apply_refreshes_the_map():
    from ssmlab.widgets import LabMap, TrustPolicyBuilder

    lab = at_lesson(4)
    lab_map = LabMap(lab)
    builder = TrustPolicyBuilder(lab, on_apply=lab_map.refresh)
    assert lab_map.model.link(lm.TRUST).ok
    builder._services[EC2].value = False
    builder._services[SSM].value = True
    assert '"Service": "ssm.amazonaws.com"' in builder._json.value.replace("&quot;", '"')
    result = builder.apply()
    assert result.ok and builder.text().endswith(f"AWS: {result}")
    assert not lab_map.model.link(lm.TRUST).ok
    assert 'data-link="trust policy" data-ok="false"' in lab_map._chain.value


def test_check_box_button_shows_the_hint():
    from ssmlab.widgets import CheckBox

    box = CheckBox(checks.check_trust_policy, value=checks.broken_trust_policy(seed=7))
    box._button.click()
    assert "remove Resource" in box._feedback.value and "ssmlab-broken" in box._feedback.value


def test_profile_map_model_and_view(_offline_lab):
    from ssmlab.widgets import ProfileMap, ProfileMapModel

    lab = at_lesson(4)
    n = names(lab)
    stack = lab.client("cloudformation").describe_stacks(StackName=n["STACK"])["Stacks"][0]
    instance = stack["Outputs"][0]["OutputValue"]
    model = ProfileMapModel(lab, (n["PROFILE"],), (instance,))
    assert "not read yet" in model.text()
    model.refresh()
    last = model.text().splitlines()[-1].split()
    assert last[0] == instance and last[-3:] == [n["PROFILE"], "-->", n["ROLE"]]
    view = ProfileMap(lab, profiles=[n["PROFILE"]], instance_ids=[instance])
    assert view._repr_mimebundle_()["text/plain"] == view.model.text() == model.text()
    assert instance in view._picture.value
