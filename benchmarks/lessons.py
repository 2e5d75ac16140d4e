"""Benchmark: the lesson suite under nbval against a floor measured in the same run.

The floor is the same number of notebooks, each of which only starts the offline lab and
makes one call to each service the lessons use, run through the same nbval harness. The
ratio (suite / floor) is what matters on a noisy machine; absolute times are printed too.
Also: ``ssmlab.start(lesson=LAST)`` after a plain ``ssmlab.start()`` in the same process, and
both from ``import ssmlab`` on in a fresh process, as wall time and as the process's CPU
time (the fair figure on a loaded machine: other programs' work does not count); and the
memory of a Jupyter kernel and its AWS CLI helper (``aws_cli_zygote``) after
``start(lesson=LAST)`` and one ``!aws`` line: resident (RSS) and proportional (PSS, shared
pages divided among the processes sharing them), from ``/proc/PID/smaps_rollup``.

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


def fresh_seconds(lesson: int | None) -> tuple[float, float]:
    """``import ssmlab`` plus ``ssmlab.start(lesson=...)`` in a new process: what a learner
    opening a lesson in a fresh kernel waits for at the first cell, as (wall, CPU) seconds.
    CPU is the process's (every thread, including moto's CloudFormation import started in
    the background)."""
    code = ("import time; t = time.perf_counter(); c = time.process_time(); import ssmlab; "
            f"ssmlab.start(quiet=True, lesson={lesson!r}); "
            "print(time.perf_counter() - t, time.process_time() - c)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def _descendants(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            found += _descendants(int(child))
    return found


def _memory(pid: int) -> dict[str, float]:
    """RSS and PSS of one process, in MiB (Linux's smaps_rollup)."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def kernel_memory(lesson: int) -> dict[str, float]:
    """MiB held by a python3 kernel and its children (the AWS CLI helper) after
    ``start(lesson=...)`` and one ``!aws`` line."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        def run(code: str) -> str:
            reply = client.execute_interactive(code, timeout=600, output_hook=lambda msg: printed.append(msg))
            if reply["content"]["status"] != "ok":
                sys.exit(f"the kernel failed: {reply['content']}")
            return "".join(m["content"].get("text", "") for m in printed if m["msg_type"] == "stream")

        printed: list = []
        pid = int(run("import os; print(os.getpid())").strip())
        run(f"import ssmlab; lab = ssmlab.start(lesson={lesson}, quiet=True)")
        run("!aws sts get-caller-identity --query Account --output text")
        time.sleep(1)
        processes = [_memory(p) for p in _descendants(pid)]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return {
        "processes": len(processes),
        "kernel_rss_mib": round(processes[0]["Rss"], 1),
        "rss_mib": round(sum(p["Rss"] for p in processes), 1),
        "pss_mib": round(sum(p["Pss"] for p in processes), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, medians reported")
    parser.add_argument("--no-suite", action="store_true", help="skip the nbval suite and its floor")
    args = parser.parse_args()
    if not NOTEBOOKS:
        sys.exit("no lessons found under notebooks/")
    last = int(NOTEBOOKS[-1].name[:2])
    suite_runs, floor_runs = [float("nan")], [float("nan")]
    if not args.no_suite:
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
    memory = [kernel_memory(last) for _ in range(args.repeat)]
    report = {
        "lessons": len(NOTEBOOKS),
        "suite_seconds": round(statistics.median(suite_runs), 2),
        "floor_seconds": round(statistics.median(floor_runs), 2),
        "ratio": round(statistics.median(suite_runs) / statistics.median(floor_runs), 2),
        f"start_lesson_{last}_seconds": round(statistics.median(start_last), 3),
        "start_seconds": round(statistics.median(start_plain), 3),
        "fresh_process_start_seconds": round(statistics.median(w for w, _ in fresh_plain), 3),
        "fresh_process_start_cpu_seconds": round(statistics.median(c for _, c in fresh_plain), 3),
        f"fresh_process_start_lesson_{last}_seconds": round(statistics.median(w for w, _ in fresh_last), 3),
        f"fresh_process_start_lesson_{last}_cpu_seconds": round(statistics.median(c for _, c in fresh_last), 3),
        f"kernel_and_cli_helper_after_lesson_{last}": {
            key: statistics.median(m[key] for m in memory) for key in memory[0]
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
