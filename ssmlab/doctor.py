"""``ssmlab doctor``: a newcomer's check, one line per requirement, ok or the exact fix."""

from __future__ import annotations

import importlib.metadata
import os
import queue
import shlex
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .i18n import N_, _

MIN_PYTHON = (3, 10)
#: The packages the lessons import or run, with the reason the README gives for each.
PACKAGES = ("boto3", "moto", "awscli", "jupyterlab", "ipykernel", "ipywidgets", "tqdm")
KERNEL = "python3"
FIX_INSTALL = N_("run `make lab` (or `pip install -e .`) in the ssmlab folder")
#: The folder `make lab` runs in (the checkout: the Makefile and notebooks/ beside ssmlab/).
CHECKOUT = Path(__file__).resolve().parent.parent
#: How long JupyterLab may take to say it is serving (a loaded 2-core machine: ~5 s).
LAB_START_SECONDS = 90


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok ' if self.ok else 'FIX'}  {self.name}: {self.detail}"


def check_python() -> Result:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] >= MIN_PYTHON:
        return Result("Python", True, version)
    return Result("Python", False, _("{version} is too old: install Python {minimum} or newer, "
                                     "then {fix}").format(version=version, minimum=".".join(map(str, MIN_PYTHON)),
                                                          fix=_(FIX_INSTALL)))


def check_package(name: str) -> Result:
    try:
        return Result(name, True, importlib.metadata.version(name))
    except importlib.metadata.PackageNotFoundError:
        return Result(name, False, _("not installed: {fix}").format(fix=_(FIX_INSTALL)))


def check_aws_cli() -> Result:
    beside = Path(sys.executable).parent / "aws"
    found = str(beside) if beside.exists() else shutil.which("aws")
    if not found:
        return Result("aws CLI", False, _("not found beside {python}: {fix}").format(
            python=sys.executable, fix=_(FIX_INSTALL)))
    return Result("aws CLI", True, found)


def check_kernel() -> Result:
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except (ImportError, KeyError):  # not installed, or NoSuchKernel (a KeyError)
        return Result("Jupyter kernel", False, _("kernel {kernel!r} not found: {fix}").format(
            kernel=KERNEL, fix=_(FIX_INSTALL)))
    command = spec.argv[0]
    if command in ("python", "python3", "{python}") or Path(command).resolve() == Path(sys.executable).resolve():
        return Result("Jupyter kernel", True, _("{kernel!r} runs {python}").format(
            kernel=KERNEL, python=sys.executable))
    return Result("Jupyter kernel", False, _("kernel {kernel!r} runs {command}, not this "
                                             "environment's Python: start JupyterLab with `make lab`").format(
                                                 kernel=KERNEL, command=command))


def lab_arguments(uid: int | None = None) -> list[str]:
    """What `make lab` passes to ``jupyter lab`` (the Makefile's ``LAB_ARGS``): the lessons'
    folder, and ``--allow-root`` only for root, which JupyterLab refuses without it
    ("Running as root is not recommended. Use --allow-root to bypass.",
    docs/aws-facts.md#jupyterlab-as-root)."""
    uid = os.geteuid() if uid is None else uid
    return ["--notebook-dir=notebooks", *(["--allow-root"] if uid == 0 else [])]


def check_jupyterlab_starts(arguments: list[str] | None = None) -> Result:
    """Start JupyterLab as `make lab` would (its arguments, from the checkout), without a
    browser, until it says it is serving; then stop it. ``make doctor`` passes the
    Makefile's own ``LAB_ARGS`` in ``SSMLAB_LAB_ARGS``."""
    if arguments is None:
        given = os.environ.get("SSMLAB_LAB_ARGS")
        arguments = shlex.split(given) if given is not None else lab_arguments()
    jupyter = Path(sys.executable).parent / "jupyter"
    if not jupyter.exists():
        return Result("JupyterLab", False, _("no `jupyter` beside {python}: {fix}").format(
            python=sys.executable, fix=_(FIX_INSTALL)))
    if not (CHECKOUT / "notebooks").is_dir():
        return Result("JupyterLab", False, _("no notebooks/ folder in {checkout}: run `make lab` "
                                             "from an ssmlab checkout").format(checkout=CHECKOUT))
    as_root = os.geteuid() == 0 and "--allow-root" in arguments
    command = [str(jupyter), "lab", *arguments, "--no-browser", "--ServerApp.port=0",
               "--ServerApp.open_browser=False"]
    try:
        server = subprocess.Popen(command, cwd=CHECKOUT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        return Result("JupyterLab", False, _("`jupyter lab` did not start ({error}): {fix}").format(
            error=exc, fix=_(FIX_INSTALL)))
    said: list[str] = []
    lines: queue.Queue = queue.Queue()

    def read() -> None:  # JupyterLab logs to stderr; read in a thread, the wait stays bounded
        for line in server.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        began = time.perf_counter()
        while (left := LAB_START_SECONDS - (time.perf_counter() - began)) > 0:
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:  # the server exited
                break
            said.append(line.rstrip())
            if "is running at:" in line:
                started = (_("`make lab` starts it as root (with --allow-root) ({seconds:.1f} s; stopped again)")
                           if as_root else _("`make lab` starts it ({seconds:.1f} s; stopped again)"))
                return Result("JupyterLab", True, started.format(seconds=time.perf_counter() - began))
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    last = next((line for line in reversed(said) if line.strip()),
                _("it said nothing within {seconds} s").format(seconds=LAB_START_SECONDS))
    if "--allow-root" in last:
        return Result("JupyterLab", False, _("refused to run as root ({said}): start it with "
                                             "`make lab`, which adds --allow-root for root").format(
                                                 said=last.split("] ")[-1]))
    return Result("JupyterLab", False, _("`jupyter lab {arguments}` did not start: {said}").format(
        arguments=" ".join(arguments), said=last.split("] ")[-1]))


def check_offline_lab() -> Result:
    from . import lab as lab_module
    from .errors import LabError

    began = time.perf_counter()
    try:
        lab = lab_module.start("offline", quiet=True)
        answer = subprocess.run(
            ["aws", "iam", "list-roles"], env=lab.env, capture_output=True, text=True, timeout=60
        )
    except (LabError, OSError, subprocess.SubprocessError) as exc:
        return Result("offline lab", False, _("did not start ({error}): {fix}").format(
            error=exc, fix=_(FIX_INSTALL)))
    finally:
        lab_module.stop()
    if answer.returncode != 0:
        return Result("offline lab", False, _("`aws iam list-roles` failed: {said}").format(
            said=answer.stderr.strip()))
    return Result("offline lab", True, _("started and answered `aws iam list-roles` in {seconds:.1f} s").format(
        seconds=time.perf_counter() - began))


def checks() -> list[Callable[[], Result]]:
    return [check_python, *[lambda n=n: check_package(n) for n in PACKAGES],
            check_aws_cli, check_kernel, check_offline_lab, check_jupyterlab_starts]


def run_checks(emit: Callable[[str], None]) -> bool:
    """Run every check, emit a line each, and return whether all passed."""
    results = [check() for check in checks()]
    for result in results:
        emit(result.line())
    failed = [r for r in results if not r.ok]
    emit(_("All good: `make lab` opens the lessons.") if not failed
         else _("{count} problem(s) above; each line says the fix.").format(count=len(failed)))
    return not failed
