"""Benchmark: the lesson suite under nbval against a floor measured in the same run.

The floor is the same number of notebooks, each of which only starts the offline lab and
makes one call to each service the lessons use, run through the same nbval harness. The
ratio (suite / floor) is what matters on a noisy machine; absolute times are printed too.
Also: ``ssmlab.start(lesson=LAST)`` after a plain ``ssmlab.start()`` in the same process, and
both from ``import ssmlab`` on in a fresh process.

    .venv/bin/python benchmarks/lessons.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
SANITIZE = ROOT / "notebooks" / "nbval-sanitize.cfg"

FLOOR_CELLS = [
    "import ssmlab\nlab = ssmlab.start(quiet=True)",
    "lab.client('iam').list_roles()['Roles']",
    "lab.client('sts').get_caller_identity()['Account']",
    "lab.client('ec2').describe_instances()['Reservations']",
    "lab.client('cloudformation').list_stacks()['StackSummaries']",
    "lab.client('ssm').describe_instance_information()['InstanceInformationList']",
    "!aws sts get-caller-identity --query Account --output text",
]


def floor_notebooks(folder: Path, count: int) -> list[Path]:
    paths = []
    for index in range(count):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(source) for source in FLOOR_CELLS]
        path = folder / f"floor-{index:02d}.ipynb"
        nbformat.write(nb, path)
        paths.append(path)
    # nbval compares outputs: store them by executing once (not timed).
    subprocess.run([sys.executable, "-m", "ssmlab.notebooks", *map(str, paths)], check=True,
                   cwd=folder, capture_output=True)
    return paths


def nbval_seconds(paths: list[Path]) -> float:
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
         "--nbval-sanitize-with", str(SANITIZE), *map(str, paths)],
        cwd=ROOT, capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - began
    if result.returncode != 0:
        sys.exit(f"nbval failed, the benchmark means nothing:\n{result.stdout[-3000:]}")
    return elapsed


def start_seconds(lesson: int | None) -> float:
    code = ("import time, ssmlab; ssmlab.start(quiet=True); t = time.perf_counter(); "
            f"ssmlab.start(quiet=True, lesson={lesson!r}); print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def fresh_seconds(lesson: int | None) -> float:
    """``import ssmlab`` plus ``ssmlab.start(lesson=...)`` in a new process: what a learner
    opening a lesson in a fresh kernel waits for at the first cell."""
    code = ("import time; t = time.perf_counter(); import ssmlab; "
            f"ssmlab.start(quiet=True, lesson={lesson!r}); print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, medians reported")
    args = parser.parse_args()
    if not NOTEBOOKS:
        sys.exit("no lessons found under notebooks/")
    last = int(NOTEBOOKS[-1].name[:2])
    with tempfile.TemporaryDirectory() as tmp:
        floor = floor_notebooks(Path(tmp), len(NOTEBOOKS))
        suite_runs, floor_runs = [], []
        for _ in range(args.repeat):  # interleaved, so load changes hit both alike
            floor_runs.append(nbval_seconds(floor))
            suite_runs.append(nbval_seconds(NOTEBOOKS))
    start_plain = [start_seconds(None) for _ in range(args.repeat)]
    start_last = [start_seconds(last) for _ in range(args.repeat)]
    fresh_plain = [fresh_seconds(None) for _ in range(args.repeat)]
    fresh_last = [fresh_seconds(last) for _ in range(args.repeat)]
    report = {
        "lessons": len(NOTEBOOKS),
        "suite_seconds": round(statistics.median(suite_runs), 2),
        "floor_seconds": round(statistics.median(floor_runs), 2),
        "ratio": round(statistics.median(suite_runs) / statistics.median(floor_runs), 2),
        f"start_lesson_{last}_seconds": round(statistics.median(start_last), 3),
        "start_seconds": round(statistics.median(start_plain), 3),
        "fresh_process_start_seconds": round(statistics.median(fresh_plain), 3),
        f"fresh_process_start_lesson_{last}_seconds": round(statistics.median(fresh_last), 3),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
