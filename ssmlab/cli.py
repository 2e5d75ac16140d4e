"""The ``ssmlab`` command: serve the offline lab, check an install or an account, diagnose an
instance, clean up a real account, scrub notebooks before sharing them."""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import signal
import sys
import threading

from .errors import LabError
from .i18n import _


def _serve(args: argparse.Namespace) -> int:
    from . import lab as lab_module

    room_folder = _check_room_arguments(args)
    seed = args.seed if args.seed is not None else (
        # A room's ids need not repeat from run to run, and should not be foreseeable.
        secrets.randbelow(2**32) if room_folder is not None else 1)
    # Bad arguments are one sentence before anything starts (a port out of range, a Region
    # moto has no backend for).
    lab_module.check_arguments("offline", region=args.region, port=args.port, seed=seed)
    # Handle the signals before saying "Serving": a signal right after it stops cleanly.
    stopping = threading.Event()

    def stop(signum, frame):
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    lab = lab_module.start(
        "offline", port=args.port, seed=seed, region=args.region, quiet=True
    )
    if room_folder is not None:
        from .i18n import _

        room = _open_room(lab_module, lab, args, room_folder)
        print(_("ssmlab offline room on {endpoint}: {count} attendees, each in an account of their "
                "own, region {region}. Nothing here reaches AWS.").format(
            endpoint=lab.endpoint, count=len(room.attendees), region=lab.region))
        attendees = room.cards[:-1]
        names = str(attendees[0]) + (f" ... {attendees[-1].name}" if len(attendees) > 1 else "")
        print(_("Attendee cards: {names} (one each: `source` it in the attendee's shell).").format(names=names))
        print(_("The facilitator's card: {card} (then `ssmlab room` lists the room).").format(card=room.cards[-1]))
        print(_("The cards are removed when the server stops. Serving until Ctrl-C or SIGTERM."), flush=True)
        stopping.wait()
        room.remove_cards()
        lab_module.stop()
        print(_("ssmlab offline room stopped."), flush=True)
        return 0
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
          f"region {lab.region}, seed {seed}. Nothing here reaches AWS.")
    print("In another shell, point the AWS CLI or any SDK at it:")
    print("  unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN")
    print("  export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in exports.items()))
    print("Serving until Ctrl-C or SIGTERM.", flush=True)

    stopping.wait()
    lab_module.stop()
    print("ssmlab offline lab stopped.", flush=True)
    return 0


def _check_room_arguments(args: argparse.Namespace):
    """The cards' folder of ``serve --attendees N --cards DIR`` (None without a room), or
    LabError in one sentence before anything starts."""
    from . import room
    from .i18n import _

    if args.attendees is None:
        if args.cards is not None:
            raise LabError(_("--cards needs --attendees N: the number of attendees to write cards for."))
        return None
    if "MOTO_ACCOUNT_ID" in os.environ:
        raise LabError(_("MOTO_ACCOUNT_ID is set, which would put every attendee in one account: "
                         "unset it before `ssmlab serve --attendees`."))
    return room.check_room(args.attendees, args.cards)


def _open_room(lab_module, lab, args: argparse.Namespace, folder):
    """The room's accounts, its door and its cards on the lab just started; nothing is left
    half-made if one step fails (the lab stops, no card stays)."""
    from . import room as room_module
    from .simulation import _moto
    from .simulation.room_guard import RoomGuard

    endpoint = lab_module._endpoint
    _moto.refuse_members_list_accounts()
    try:
        room = room_module.open_room(endpoint, args.attendees, lab.region, _moto.create_user_with_key,
                                     _moto.prepare_account)
        endpoint.guard = RoomGuard(endpoint.app, room.accounts)
        room_module.write_cards(room, folder)
    except BaseException:  # Ctrl-C too: a half-opened room is stopped, then the error goes on
        lab_module.stop()
        raise
    return room


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


def _room(args: argparse.Namespace) -> int:
    from .room import main

    return main(args)


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
        "board", help=_("the workshop's live progress board, run by JupyterHub as a service (facilitator only)")
    )
    board.add_argument("--state", help=_("a JSON file that keeps the board across restarts"))
    board.set_defaults(run=_board)
    prog = commands.add_parser(
        "progress", help=_("your milestones: show, export to a file (before a Binder session is culled), import")
    )
    prog.add_argument("action", choices=["show", "export", "import", "report"],
                      help=_("report: opt in to the workshop board (sends your hub name and milestones)"))
    prog.add_argument("file", nargs="?", help=_("export: where to write (default: print); import: what to read"))
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
    serve.add_argument("--seed", type=int, default=None,
                       help=_("seed for resource ids (default 1; with --attendees, a random one)"))
    serve.add_argument("--region", default="us-east-1", help=_("default Region (us-east-1)"))
    serve.add_argument("--attendees", type=int, metavar="N",
                       help=_("a room: N attendees (1-99), each in an AWS account of their own"))
    serve.add_argument("--cards", metavar="DIR",
                       help=_("with --attendees: write DIR/attendee-NN.env and DIR/facilitator.env (mode 0600)"))
    serve.set_defaults(run=_serve)

    room = commands.add_parser(
        "room", help=_("with the facilitator's card sourced: every attendee's roles, stacks, instances, managed nodes")
    )
    room.add_argument("--endpoint", help=_("the room's endpoint (default: $AWS_ENDPOINT_URL from the card)"))
    room.set_defaults(run=_room)

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
