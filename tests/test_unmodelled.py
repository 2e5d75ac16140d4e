"""What the offline lab does not model answers in AWS's shape for each protocol, HTTP 400,
without retries, and prints nothing in the kernel (ssmlab.simulation.unmodelled)."""

from __future__ import annotations

import logging

import pytest
from botocore.exceptions import ClientError

from ssmlab.simulation import unmodelled

LINE = "ssmlab's offline lab does not model {op} (aws {service} {command}). A real AWS account answers it."


@pytest.mark.parametrize("service, call, kwargs, op, command", [
    ("ssm", "describe_instance_patch_states", {"InstanceIds": ["i-0123456789abcdef0"]},
     "DescribeInstancePatchStates", "describe-instance-patch-states"),  # JSON protocol
    ("ssm", "get_inventory", {}, "GetInventory", "get-inventory"),
    ("ec2", "get_serial_console_access_status", {}, "GetSerialConsoleAccessStatus",
     "get-serial-console-access-status"),  # EC2 protocol
    ("cloudformation", "list_stack_refactors", {}, "ListStackRefactors", "list-stack-refactors"),  # query
    ("lambda", "get_account_settings", {}, "GetAccountSettings", "get-account-settings"),  # REST-JSON
])
def test_unmodelled_operations_answer_in_awss_shape(lab, capfd, service, call, kwargs, op, command):
    capfd.readouterr()
    with pytest.raises(ClientError) as caught:
        getattr(lab.client(service), call)(**kwargs)
    response = caught.value.response
    assert response["Error"]["Code"] == "NotImplemented"
    assert response["Error"]["Message"] == LINE.format(op=op, service=service, command=command)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["RetryAttempts"] == 0  # botocore does not retry a 400
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "Error on request" not in out + err


def test_a_service_moto_lacks_answers_too(lab, capfd):
    capfd.readouterr()
    with pytest.raises(ClientError) as caught:
        lab.client("ssm-sap").list_applications()
    assert caught.value.response["Error"]["Code"] == "NotImplemented"
    assert "ListApplications (aws ssm-sap list-applications)" in caught.value.response["Error"]["Message"]
    out, err = capfd.readouterr()
    # moto would print "Unable to find appropriate backend ..." and a traceback.
    assert out + err == ""


def test_the_traceback_goes_to_a_debug_logger_only(lab, caplog):
    with caplog.at_level(logging.DEBUG, logger="ssmlab.offline"):
        with pytest.raises(ClientError):
            lab.client("ssm").get_inventory()
    records = [r for r in caplog.records if r.name == "ssmlab.offline"]
    assert records and all(r.levelno == logging.DEBUG for r in records)
    assert any(r.exc_info and r.exc_info[0] is NotImplementedError for r in records)


def test_a_crash_names_the_call_and_the_exception():
    message = unmodelled.message_for("cloudformation", "DescribeStacks", crashed="KeyError")
    assert message == (
        "ssmlab's offline lab cannot answer DescribeStacks (aws cloudformation describe-stacks): "
        "its simulation of this call failed (KeyError). A real AWS account answers it."
    )
    assert "\n" not in message


def test_in_a_kernel_a_cell_shows_the_one_line_and_nothing_of_the_server(tmp_path):
    # The finding: the cell showed the server's traceback and an HTML page. Both the
    # CLI helper's line and boto3's call run in the kernel, next to the server's threads.
    from test_kernel import client, notebook

    nb = notebook(
        "import ssmlab\nlab = ssmlab.start(quiet=True)",
        "!aws ssm describe-instance-patch-states --instance-ids i-0123456789abcdef0",
        "from botocore.exceptions import ClientError\ntry:\n    lab.client('ssm').get_inventory()\n"
        "except ClientError as error:\n    print(error.response['Error']['Code'])",
    )
    client(nb, tmp_path, allow_errors=True).execute()
    texts = ["".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream") for cell in nb.cells]
    assert texts[1].strip() == (
        "An error occurred (NotImplemented) when calling the DescribeInstancePatchStates operation: "
        "ssmlab's offline lab does not model DescribeInstancePatchStates "
        "(aws ssm describe-instance-patch-states). A real AWS account answers it."
    )
    assert texts[2] == "NotImplemented\n"
