"""Re-execute lessons and rewrite their stored outputs (``make notebooks``); estimate their times.

    python -m ssmlab.notebooks notebooks/*.ipynb
    python -m ssmlab.notebooks --times notebooks/*.ipynb    # the estimate, nothing runs

Each notebook runs top to bottom in a fresh ``python3`` kernel whose working directory is
the notebook's folder, against the offline lab (``SSMLAB_BACKEND`` is forced to offline),
so the stored outputs are the ones ``pytest --nbval`` compares with. A cell that raises
stops the run unless it carries the ``raises-exception`` tag (STYLE.md). Execution
timestamps are not recorded, so rewriting an unchanged lesson leaves the file unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import dataclass
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


# ------------------------------------------------------------------ time estimate

#: How long a careful newcomer needs, estimated from the notebook itself (README, "The
#: lessons"). An estimate by a stated method, not a measurement; replace the constants by
#: what real readers take. Each constant is per unit of the lesson's own text:
PROSE_WORDS_PER_MINUTE = 150  # markdown: technical prose read carefully (adults read non-fiction at ~240)
OUTPUT_WORDS_PER_MINUTE = 200  # stored outputs: read or skimmed against the text that explains them
SECONDS_PER_CODE_LINE = 10  # each non-empty line of a code cell: read it, run it
SECONDS_PER_AWS_LINE = 30  # each `!aws` line, on top: read its options, compare AWS's answer
MINUTES_PER_EXERCISE = 8  # each "### Exercise" heading: draft, hint, fix, re-run, solution
ROUND_TO = 5  # minutes; a stated time is the estimate rounded to this

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_OPTIONAL = re.compile(r"\(optional\)\s*$", re.IGNORECASE)
_STATED = re.compile(r"\*\*Time:\*\* about (\d+) minutes(?:; fast path (\d+) minutes)?")


@dataclass(frozen=True)
class LessonTime:
    """Estimated minutes for the whole lesson, and without its sections marked optional."""

    total: float
    fast: float

    @staticmethod
    def rounded(minutes: float) -> int:
        return max(ROUND_TO, int(ROUND_TO * round(minutes / ROUND_TO)))


def _words(text: str) -> int:
    return len(re.findall(r"\S+", text))


def _output_text(output: dict) -> str:
    if "text" in output:
        return "".join(output["text"])
    if "data" in output:
        return "".join(output["data"].get("text/plain", ""))
    return ""


def estimate(notebook: dict) -> LessonTime:
    """The estimate for one notebook (its JSON, as ``json.load`` gives it).

    A section is optional from a heading ending in ``(optional)`` up to the next heading of
    the same or a higher level; its prose, code, outputs and exercises count in ``total``
    only. Everything counts in the section it sits in.
    """
    total = fast = 0.0
    optional_level: int | None = None
    for cell in notebook.get("cells", []):
        source = "".join(cell.get("source", []))
        if cell.get("cell_type") == "markdown":
            for line in source.splitlines():
                heading = _HEADING.match(line)
                if heading:
                    level = len(heading[1])
                    if optional_level is not None and level <= optional_level:
                        optional_level = None
                    if optional_level is None and _OPTIONAL.search(heading[2]):
                        optional_level = level
                seconds = 60 * _words(line) / PROSE_WORDS_PER_MINUTE
                if heading and "exercise" in heading[2].lower():
                    seconds += 60 * MINUTES_PER_EXERCISE
                total += seconds
                fast += 0 if optional_level is not None else seconds
        elif cell.get("cell_type") == "code":
            lines = [line for line in source.splitlines() if line.strip()]
            aws = [line for line in lines if re.match(r"\s*(\w+\s*=\s*)?!aws\s", line)]
            seconds = SECONDS_PER_CODE_LINE * len(lines) + SECONDS_PER_AWS_LINE * len(aws)
            seconds += 60 * sum(_words(_output_text(o)) for o in cell.get("outputs", [])) / OUTPUT_WORDS_PER_MINUTE
            total += seconds
            fast += 0 if optional_level is not None else seconds
    return LessonTime(total / 60, fast / 60)


def estimate_file(path: Path) -> LessonTime:
    return estimate(json.loads(Path(path).read_text()))


def stated(notebook: dict) -> tuple[int, int | None] | None:
    """The ``**Time:** about N minutes; fast path M minutes`` a lesson's first cell states."""
    cells = notebook.get("cells", [])
    match = _STATED.search("".join(cells[0].get("source", []))) if cells else None
    if match is None:
        return None
    return int(match[1]), (int(match[2]) if match[2] else None)


#: The lessons of the short workshop's fast path (README, "The lessons").
FAST_PATH = (0, 2, 3, 4, 5, 6)


def times_table(paths: list[Path]) -> str:
    """The estimate of each lesson and the fast path, as the README's table states them."""
    rows, fast_path = [], 0
    for path in sorted(paths):
        number = int(path.name[:2])
        time_ = estimate_file(path)
        fast = time_.fast if number in FAST_PATH else None
        fast_path += LessonTime.rounded(fast) if fast is not None else 0
        rows.append(
            f"{path.name:<48} {time_.total:6.1f} min  -> about {LessonTime.rounded(time_.total):3d}"
            + (f"   fast path {fast:6.1f} -> {LessonTime.rounded(fast):3d}" if fast is not None else "")
        )
    rows.append(f"fast path ({', '.join(f'{n:02d}' for n in FAST_PATH)}): about {fast_path} minutes")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ssmlab.notebooks",
        description="Re-execute lessons in fresh kernels (offline lab) and rewrite their stored outputs.",
    )
    parser.add_argument("notebooks", nargs="+", type=Path, help="notebooks/*.ipynb")
    parser.add_argument("--times", action="store_true", help="print each lesson's time estimate; run nothing")
    args = parser.parse_args(argv)
    if args.times:
        print(times_table(args.notebooks))
        return 0
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
