"""The one boundary with moto (ssmlab/simulation/_moto.py) checks what it patches."""

from __future__ import annotations

import pytest

from ssmlab.errors import LabError
from ssmlab.simulation import _moto


def test_the_installed_moto_passes_every_check():
    assert _moto.problems("core") == []
    assert _moto.problems("cloudformation") == []


def test_a_patched_method_whose_parameters_moved_is_named_in_one_sentence(monkeypatch):
    from ssmlab.simulation._moto import CloudFormationBackend

    monkeypatch.setattr(CloudFormationBackend, "create_stack", lambda self, stack_name, body: None)
    with pytest.raises(LabError) as raised:
        _moto.check("cloudformation")
    message = str(raised.value)
    assert "moto>=5.2.5,<5.3" in message and "CloudFormationBackend.create_stack takes (self, stack_name, body)" in message
    assert "\n" not in message


def test_an_attribute_that_is_gone_is_named(monkeypatch):
    from ssmlab.simulation._moto import IAMBackend

    monkeypatch.delattr(IAMBackend, "get_role_by_arn")
    with pytest.raises(LabError, match=r"moto.iam.models.IAMBackend.get_role_by_arn is gone"):
        _moto.check()


def test_names_are_exported_lazily_and_unknown_names_are_attribute_errors():
    assert _moto.ssm_backends is _moto.__getattr__("ssm_backends")
    with pytest.raises(AttributeError):
        _moto.no_such_thing  # noqa: B018
