"""In a real Jupyter kernel (the one `make lab` uses), start() works and `!aws` cells
answer from the offline lab."""

from __future__ import annotations

import os
import signal
import threading
import time

import nbformat
from nbclient import NotebookClient


def notebook(*sources: str):
    """A notebook of code cells on the kernel the README sets up."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    return nb


def client(nb, tmp_path, **options) -> NotebookClient:
    return NotebookClient(nb, timeout=180, kernel_name="python3",
                          resources={"metadata": {"path": str(tmp_path)}}, **options)


def test_aws_cells_in_a_kernel_answer_from_the_offline_lab(tmp_path):
    nb = notebook(
        "import ssmlab\nlab = ssmlab.start()",
        "!aws iam list-roles",
        "!aws sts get-caller-identity --query Arn --output text",
        "ssmlab.start('nonsense')",
    )
    client(nb, tmp_path, allow_errors=True).execute()

    def text(cell):
        return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")

    assert text(nb.cells[0]) == (
        "ssmlab offline lab (moto on loopback): account 123456789012, region us-east-1\n"
    )
    assert text(nb.cells[1]).split() == ['{', '"Roles":', '[]', '}']
    assert text(nb.cells[2]).strip() == "arn:aws:iam::123456789012:user/learner"
    # A LabError is one sentence, without a traceback.
    [error] = [o for o in nb.cells[3].outputs if o.output_type == "error"]
    assert error.traceback == [
        "LabError: Unknown backend 'nonsense': use 'offline' (the default, no AWS account) "
        "or 'aws' (a real account you confirm with SSMLAB_AWS_ACCOUNT)."
    ]


def test_plain_aws_lines_go_through_the_cli_helper_and_the_rest_through_the_shell(tmp_path):
    nb = notebook(
        "import ssmlab\nlab = ssmlab.start(quiet=True)",
        "ROLE = 'no-such-role'\n!aws iam get-role --role-name {ROLE}\nprint(_exit_code)",
        "!aws sts get-caller-identity --query Arn --output text | tr a-z A-Z",
        "import sys\nprint('awscli' in sys.modules, ssmlab.aws_cli._zygote.alive())",
        "ssmlab.stop()\n!aws --version",  # no request: nothing to reach
    )
    client(nb, tmp_path).execute()

    def streams(cell):
        found = {"stdout": "", "stderr": ""}
        for output in cell.outputs:
            if output.output_type == "stream":
                found[output.name] += output.text
        return found

    # Through the helper: AWS's error on the cell's stderr, the exit code in _exit_code.
    assert streams(nb.cells[1]) == {
        "stdout": "255\n",
        "stderr": "\nAn error occurred (NoSuchEntity) when calling the GetRole operation: "
                  "The role with name no-such-role cannot be found.\n",
    }
    # A pipe is the shell's: its terminal ends lines with CR LF and merges the streams.
    assert streams(nb.cells[2]) == {"stdout": "ARN:AWS:IAM::123456789012:USER/LEARNER\r\n", "stderr": ""}
    # The CLI never ran in the kernel's own process (its botocore would replace boto3's).
    assert streams(nb.cells[3])["stdout"] == "False True\n"
    # After stop(), `!aws` is the shell's again.
    after = streams(nb.cells[4])
    assert after["stderr"] == "" and after["stdout"].startswith("aws-cli/") and after["stdout"].endswith("\r\n")


def test_interrupting_an_aws_line_stops_the_cli_and_keeps_the_kernel(tmp_path):
    # A waiter that would poll for 10 minutes (the instance never stops), interrupted as
    # the Jupyter stop button does: the CLI exits 130, as in a terminal, and the next
    # `!aws` line works.
    nb = notebook(
        "import ssmlab\nlab = ssmlab.start(quiet=True)\n"
        "ec2 = lab.client('ec2')\n"
        "image = ec2.describe_images(Owners=['amazon'])['Images'][0]['ImageId']\n"
        "ID = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)['Instances'][0]['InstanceId']",
        "!aws ec2 wait instance-stopped --instance-ids {ID}",
        "print(_exit_code)\n!aws ec2 describe-instances --query 'length(Reservations)'",
    )
    runner = client(nb, tmp_path, allow_errors=True)
    with runner.setup_kernel():
        runner.execute_cell(nb.cells[0], 0)
        # Jupyter's interrupt: SIGINT to the kernel's process group (its children too).
        kernel_group = os.getpgid(runner.km.provisioner.process.pid)
        assert kernel_group != os.getpgrp(), "the kernel shares this test's process group"
        threading.Timer(3, os.killpg, (kernel_group, signal.SIGINT)).start()
        began = time.monotonic()
        runner.execute_cell(nb.cells[1], 1)
        assert time.monotonic() - began < 30
        runner.execute_cell(nb.cells[2], 2)
    text = "".join(o.get("text", "") for o in nb.cells[2].outputs if o.output_type == "stream")
    assert text == "130\n1\n"
