"""In a real Jupyter kernel (the one `make lab` uses), start() works and `!aws` cells
answer from the offline lab."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient


def test_aws_cells_in_a_kernel_answer_from_the_offline_lab(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("import ssmlab\nlab = ssmlab.start()"),
        nbformat.v4.new_code_cell("!aws iam list-roles"),
        nbformat.v4.new_code_cell("!aws sts get-caller-identity --query Arn --output text"),
        nbformat.v4.new_code_cell("ssmlab.start('nonsense')"),
    ]
    NotebookClient(nb, timeout=180, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

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
