"""Re-execute lessons and rewrite their stored outputs: ``make notebooks``.

    python -m ssmlab.notebooks notebooks/*.ipynb

Each notebook runs top to bottom in a fresh ``python3`` kernel whose working directory is
the notebook's folder, against the offline lab (``SSMLAB_BACKEND`` is forced to offline),
so the stored outputs are the ones ``pytest --nbval`` compares with. A cell that raises
stops the run unless it carries the ``raises-exception`` tag (STYLE.md). Execution
timestamps are not recorded, so rewriting an unchanged lesson leaves the file unchanged.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

KERNEL = "python3"
KERNELSPEC = {"name": KERNEL, "display_name": "Python 3 (ipykernel)", "language": "python"}
TIMEOUT = 300  # seconds per cell: a first CloudFormation call offline takes a few


def execute(path: Path) -> float:
    """Run ``path`` in a fresh kernel, store its new outputs; return the seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    # Widget models live in the kernel; their saved state would be thousands of lines of
    # random ids per run. Each widget's output keeps its text/plain form, which nbval checks.
    nb.metadata.pop("widgets", None)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=TIMEOUT,
        record_timing=False,
        store_widget_state=False,
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    started = time.monotonic()
    environ = {"SSMLAB_BACKEND": os.environ.get("SSMLAB_BACKEND")}
    os.environ["SSMLAB_BACKEND"] = "offline"  # stored outputs always come from the offline lab
    try:
        client.execute()
    finally:
        if environ["SSMLAB_BACKEND"] is None:
            os.environ.pop("SSMLAB_BACKEND", None)
        else:
            os.environ["SSMLAB_BACKEND"] = environ["SSMLAB_BACKEND"]
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ssmlab.notebooks",
        description="Re-execute lessons in fresh kernels (offline lab) and rewrite their stored outputs.",
    )
    parser.add_argument("notebooks", nargs="+", type=Path, help="notebooks/*.ipynb")
    args = parser.parse_args(argv)
    failed = 0
    for path in sorted(args.notebooks):
        if not path.is_file():
            print(f"{path}: no such notebook", file=sys.stderr)
            failed += 1
            continue
        try:
            seconds = execute(path)
        except Exception as error:  # noqa: BLE001 - report and go on with the next lesson
            print(f"{path}: FAILED - {type(error).__name__}\n{error}", file=sys.stderr)
            failed += 1
        else:
            print(f"{path}: {seconds:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
