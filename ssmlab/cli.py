"""The ``ssmlab`` command: serve the offline lab, check an install or an account, diagnose an
instance, clean up a real account, scrub notebooks before sharing them."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading

from .errors import LabError
from .i18n import _


def _serve(args: argparse.Namespace) -> int:
    from . import lab as lab_module

    # Bad arguments are one sentence before anything starts (a port out of range, a Region
    # moto has no backend for).
    lab_module.check_arguments("offline", region=args.region, port=args.port, seed=args.seed)
    # Handle the signals before saying "Serving": a signal right after it stops cleanly.
    stopping = threading.Event()

    def stop(signum, frame):
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    lab = lab_module.start(
        "offline", port=args.port, seed=args.seed, region=args.region, quiet=True
    )
    exports = {
        key: lab.env[key]
        for key in (
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
        )
    }
    print(f"ssmlab offline lab on {lab.endpoint}: account {lab.account_id}, "
          f"region {lab.region}, seed {args.seed}. Nothing here reaches AWS.")
    print("In another shell, point the AWS CLI or any SDK at it:")
    print("  unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN")
    print("  export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in exports.items()))
    print("Serving until Ctrl-C or SIGTERM.", flush=True)

    stopping.wait()
    lab_module.stop()
    print("ssmlab offline lab stopped.", flush=True)
    return 0


def _doctor(args: argparse.Namespace) -> int:
    if args.aws:
        from . import preflight

        return 0 if preflight.run(print, region=args.region) else 1
    from .doctor import run_checks

    return 0 if run_checks(print) else 1


def _cleanup(args: argparse.Namespace) -> int:
    from . import lab as lab_module

    lab = lab_module.start_for_cleanup(region=args.region)
    try:
        print(lab)
        report = lab.cleanup(dry_run=args.dry_run, all_users=args.all_users)
    finally:
        lab_module.stop()
    return 0 if report.ok else 1


def _scrub(args: argparse.Namespace) -> int:
    from .scrub import NotANotebook, scrub_notebook

    results = []
    for path in args.notebooks:  # every file is read before any is written
        try:
            results.append(scrub_notebook(path, write=False))
        except NotANotebook as exc:
            raise LabError(str(exc)) from None
    dirty = False
    for result in results:
        if not args.check and result.masked:
            result = scrub_notebook(result.path)
        print(result.line(check=args.check))
        dirty = dirty or result.masked or result.sources
    # --check (CI, pre-commit): status 1 when a notebook would change or a source holds an id.
    return 1 if args.check and dirty else 0


def _diagnose(args: argparse.Namespace) -> int:
    # It asks an offline lab only: a profile in AWS_PROFILE (which moto's import and boto3
    # read, and which may name a profile that no longer exists) plays no part.
    profiles = {name: os.environ.pop(name) for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")
                if name in os.environ}
    try:
        from .simulation import diagnostics

        return diagnostics.main(args)
    finally:
        os.environ.update(profiles)


def _session(args: argparse.Namespace) -> int:
    from .session import main

    return main(args)


# --- The workshop: the progress board (a JupyterHub service) and progress export/import.
def _board(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .board import serve

    return serve(Path(args.state) if args.state else None)


def _progress(args: argparse.Namespace) -> int:
    from . import milestones  # noqa: F401 (the course's milestones, with their labels)
    from . import progress, reporting
    from .i18n import _, ngettext

    if args.action == "export":
        if args.file in (None, "-"):
            print(progress.export_text())
        else:
            count = progress.export_file(args.file)
            print(ngettext("{count} milestone written to {file}; `ssmlab progress import {file}` brings it back.",
                           "{count} milestones written to {file}; `ssmlab progress import {file}` brings them back.",
                           count).format(count=count, file=args.file))
    elif args.action == "import":
        if not args.file:
            raise LabError(_("Name the file to import: ssmlab progress import FILE (- reads standard input)."))
        new = progress.import_text(sys.stdin.read()) if args.file == "-" else progress.import_file(args.file)
        print(ngettext("{new} new milestone imported into {path}.", "{new} new milestones imported into {path}.",
                       new).format(new=new, path=progress.path()))
    elif args.action == "report":
        reporting.report()
    else:  # show
        reached = progress.milestones()
        for key, when in sorted(reached.items(), key=lambda item: item[1]):
            known = progress.MILESTONES.get(key)
            print(f"{when}  {key}" + (f"  ({progress.label(key)})" if known else ""))
        if not reached:
            print(_("No milestones yet ({path}).").format(path=progress.path()))
    return 0


def _workshop_commands(commands) -> None:
    board = commands.add_parser(
        "board", help="the workshop's live progress board, run by JupyterHub as a service (facilitator only)"
    )
    board.add_argument("--state", help="a JSON file that keeps the board across restarts")
    board.set_defaults(run=_board)
    prog = commands.add_parser(
        "progress", help="your milestones: show, export to a file (before a Binder session is culled), import"
    )
    prog.add_argument("action", choices=["show", "export", "import", "report"],
                      help="report: opt in to the workshop board (sends your hub name and milestones)")
    prog.add_argument("file", nargs="?", help="export: where to write (default: print); import: what to read")
    prog.set_defaults(run=_progress)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssmlab",
        description=_("Hands-on IAM roles, instance profiles and Systems Manager, offline first."),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help=_("run the offline lab as a local AWS endpoint until interrupted")
    )
    serve.add_argument("--port", type=int, default=5000,
                       help=_("TCP port on 127.0.0.1 (default 5000; 0: any free port, printed)"))
    serve.add_argument("--seed", type=int, default=1, help=_("seed for resource ids (default 1)"))
    serve.add_argument("--region", default="us-east-1", help=_("default Region (us-east-1)"))
    serve.set_defaults(run=_serve)

    doctor = commands.add_parser("doctor", help=_("check this install; print the fix for each problem"))
    doctor.add_argument(
        "--aws", action="store_true",
        help=_("instead, check the real account in SSMLAB_AWS_ACCOUNT (read-only); ends with GO / NO-GO"),
    )
    doctor.add_argument("--region", help=_("with --aws: the Region to check (default: AWS_REGION or your config)"))
    doctor.set_defaults(run=_doctor)

    cleanup = commands.add_parser(
        "cleanup", help=_("on the real account, remove what the lab created (its prefix and ssmlab:lab tag)")
    )
    cleanup.add_argument("--dry-run", action="store_true", help=_("only list what would be removed"))
    cleanup.add_argument(
        "--all-users", action="store_true",
        help=_("every attendee's ssmlab-* resources (still only those with the ssmlab:lab tag)"),
    )
    cleanup.add_argument("--region", help=_("the Region (default: AWS_REGION or your config)"))
    cleanup.set_defaults(run=_cleanup)

    scrub = commands.add_parser(
        "scrub", help=_("mask account ids, keys and IAM unique ids in notebooks' outputs, metadata and attachments")
    )
    scrub.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    scrub.add_argument(
        "--check", action="store_true",
        help=_("change nothing; exit 1 if a notebook would change or a cell's source holds an id"),
    )
    scrub.set_defaults(run=_scrub)

    diagnose = commands.add_parser(
        "diagnose",
        help=_("what `ssm-cli get-diagnostics` would print on an offline lab instance"),
    )
    diagnose.add_argument("instance_id", metavar="INSTANCE_ID")
    diagnose.add_argument(
        "--endpoint", help=_("the offline lab to ask (default: $AWS_ENDPOINT_URL, as `ssmlab serve` prints)")
    )
    diagnose.set_defaults(run=_diagnose)

    session = commands.add_parser(
        "session",
        help=_("a Session Manager shell (ssm-user) on an offline lab instance, like `aws ssm start-session`"),
    )
    session.add_argument("instance_id", metavar="INSTANCE_ID")
    session.add_argument(
        "--endpoint", help=_("the offline lab to reach (default: $AWS_ENDPOINT_URL, as `ssmlab serve` prints)")
    )
    session.set_defaults(run=_session)
    _workshop_commands(commands)

    # ssmlab fleet new|grade|answers|hint|show (ssmlab/fleet/cli.py)
    from .fleet.cli import add_parser as add_fleet_parser

    add_fleet_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except LabError as exc:
        print(f"ssmlab: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
