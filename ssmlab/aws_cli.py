"""``!aws ...`` in a notebook cell, without starting the AWS CLI from scratch each time.

IPython runs every ``!`` line in a new shell; for ``aws`` that is a new Python process
that imports the AWS CLI and its botocore and reads their service models again. Measured
in a kernel on a 2-core machine: ``!aws iam list-roles`` 0.64 s, of which 0.13 s is the
shell and pseudo-terminal (``!true``) and 0.45 s the CLI starting (``!aws --version``).
The lessons type about 65 of them: the CLI's start-up was most of a lesson's run time.

While a lab runs, a plain ``aws`` command line goes instead to a process that has
imported the CLI and read the lessons' service models once (``aws_cli_zygote``), which
forks a child per command: the child takes the kernel's environment and working directory
at that moment and runs the CLI's ``main`` with the line's arguments, writing to pipes
the kernel reads into the cell. So each command is still its own process running the
same ``awscli`` package with its own botocore (the ``aws`` program on the lab's ``PATH``
is that package's script), with the same arguments, output and exit code
(``_exit_code``). Not run in the kernel's own process: ``awscli`` ships its own botocore
and redirects ``import botocore`` to it, which the kernel's boto3 must not share.

What differs from the shell: standard error arrives on the cell's stderr stream (a
terminal merges it into stdout), and the CLI sees pipes, not a terminal, so it prints no
colours. "Plain" means: first word ``aws``, and nothing the shell would interpret (pipes,
redirections, ``;``, ``&``, variables, command substitution, globs, ``~``, a lone ``-``)
outside quotes. Anything else, and everything when the helper process cannot run (no
``fork``, it died), goes to the shell as before.
"""

from __future__ import annotations

import codecs
import json
import os
import selectors
import shlex
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

from .simulation import _moto

#: Characters a POSIX shell interprets outside quotes (``sh -c`` as IPython runs it).
_SHELL_SYNTAX = set("|&;<>()$`\\*?[]{}~#!\n")
#: ... and inside double quotes.
_DOUBLE_QUOTED_SYNTAX = set("$`\\!")
_ZYGOTE = Path(__file__).with_name("aws_cli_zygote.py")
#: Started with the script's folder off ``sys.path`` (ssmlab's modules must not shadow
#: top-level names for awscli).
_ZYGOTE_BOOT = (
    "import runpy, sys; del sys.path[0]; path = sys.argv.pop(1); "
    "runpy.run_path(path, run_name='__main__')"
)

_patched: dict = {}  # module -> the ``system`` function it had
_zygote: "_Zygote | None" = None
_lock = threading.Lock()
_given_up = False  # a helper could not take a command: the shell runs them all from then on
#: Set by the lab: a sentence when a command cannot reach it (its server died), else None.
_precheck = None


def plain_aws_argv(command: str) -> list[str] | None:
    """The CLI's arguments (after ``aws``) when ``command`` is a plain ``aws`` command line,
    else None: the shell must run it."""
    quote = None
    for char in command:
        if quote == "'":
            if char == "'":
                quote = None
        elif quote == '"':
            if char == '"':
                quote = None
            elif char in _DOUBLE_QUOTED_SYNTAX:
                return None
        elif char in "'\"":
            quote = char
        elif char in _SHELL_SYNTAX:
            return None
    if quote is not None:
        return None  # unbalanced quote: let the shell say so
    words = shlex.split(command)
    if not words or words[0] != "aws" or "-" in words:
        return None
    return words[1:]


class HelperGone(OSError):
    """The helper process could not take the command (nothing of it ran)."""


class _Zygote:
    """The helper process, and one command at a time through it."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # The helper ends with the kernel, even on kill -9: it watches its end of this socket
        # (closed when the kernel's process ends) and, on Linux, asks for SIGKILL when its
        # parent ends (prctl PR_SET_PDEATHSIG) -- the latter only when started from the main
        # thread, since Linux sends it when the forking *thread* ends. Its children (each
        # `aws` command) ask for the same when the helper ends.
        parent = [str(os.getpid())] if threading.current_thread() is threading.main_thread() else []
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _ZYGOTE_BOOT, str(_ZYGOTE), str(theirs.fileno()), *parent],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self.sock = ours
        self.replies = ours.makefile("rb")

    def alive(self) -> bool:
        return self.process.poll() is None

    def _reply(self, word: str) -> int:
        line = self.replies.readline().decode().split()
        if len(line) != 2 or line[0] != word:
            raise HelperGone(f"the AWS CLI helper process answered {line!r} instead of {word!r}")
        return int(line[1])

    def run(self, args: list[str]) -> int:
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        try:
            body = json.dumps({"args": args, "env": dict(os.environ), "cwd": os.getcwd()}).encode()
            socket.send_fds(self.sock, [struct.pack(">I", len(body)) + body], [out_write, err_write])
            pid = self._reply("pid")
        except BaseException as error:  # Ctrl-C too: close the pipes, then re-raise below
            for fd in (out_read, err_read):
                os.close(fd)
            if isinstance(error, OSError):
                raise HelperGone(str(error)) from error
            # Interrupted between request and reply: its replies would answer the next
            # request, so this helper is done (the next line starts another).
            self.process.kill()
            self.process.wait()
            raise
        finally:
            os.close(out_write)
            os.close(err_write)
        relay = _Relay({out_read: sys.stdout, err_read: sys.stderr})
        while True:
            try:
                relay.run()
                return self._reply("exit")
            except KeyboardInterrupt:
                # The kernel's interrupt: pass it on, as a terminal would, and let the CLI end.
                if pid:
                    try:
                        os.kill(pid, signal.SIGINT)
                    except ProcessLookupError:
                        pass
            except (HelperGone, OSError):  # the command ran; only its exit code is lost
                relay.close()
                sys.stderr.write("ssmlab: the AWS CLI helper process stopped; its exit code is unknown\n")
                return 255

    def close(self) -> None:
        self.sock.close()
        self.replies.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


class _Relay:
    """Copies each pipe into its stream until both are closed, decoding whole UTF-8
    characters only (a character split between two reads stays whole). ``run()`` may be
    interrupted and called again."""

    def __init__(self, pipes: dict) -> None:
        self.pipes = dict(pipes)  # fd -> stream, while the fd is open
        self.streams = list(dict.fromkeys(pipes.values()))
        self.decoders = {fd: codecs.getincrementaldecoder("utf-8")("replace") for fd in pipes}

    def run(self) -> None:
        with selectors.DefaultSelector() as selector:
            for fd in self.pipes:
                selector.register(fd, selectors.EVENT_READ)
            try:
                while self.pipes:
                    for key, _ in selector.select():
                        data = os.read(key.fd, 65536)
                        self.pipes[key.fd].write(self.decoders[key.fd].decode(data, final=not data))
                        if not data:
                            selector.unregister(key.fd)
                            del self.pipes[key.fd]
                            os.close(key.fd)
            finally:
                # The kernel's streams send what was written on their own schedule: one
                # flush here, so a command's output is not cut into one message per read.
                for stream in self.streams:
                    stream.flush()

    def close(self) -> None:
        for fd in self.pipes:
            os.close(fd)
        self.pipes.clear()


def _helper() -> "_Zygote | None":
    global _zygote
    if _given_up or not hasattr(os, "fork") or not hasattr(socket, "send_fds"):
        return None
    if _zygote is None or not _zygote.alive():
        _zygote = _Zygote()
    return _zygote


def run(args: list[str]) -> int:
    """Run ``aws ARGS...`` through the helper process; return its exit code."""
    problem = _precheck() if _precheck is not None else None
    if problem:  # one sentence at once, instead of the CLI's retries against a closed port
        sys.stderr.write(f"ssmlab: {problem}\n")
        sys.stderr.flush()
        return 255  # the AWS CLI's status for a failed call
    with _lock:
        helper = _helper()
        if helper is None:
            raise OSError("this platform cannot fork the AWS CLI")
        return helper.run(args)


def _system_with_the_cli_ready(shell_system):
    def system(cmd: str) -> int:
        args = plain_aws_argv(cmd)
        if args is None or _helper() is None:
            return shell_system(cmd)
        try:
            return run(args)
        except HelperGone:  # nothing ran: the shell runs it, and every line after it
            global _given_up
            _given_up = True
            return shell_system(cmd)

    system.ssmlab_aws_cli = True
    return system


def _modules_running_shell_commands() -> list:
    return _moto.modules_running_shell_commands()


#: ``SSMLAB_AWS_CLI=shell`` keeps every ``!aws`` line in the shell (no helper process: about
#: 65 MB less per kernel; the CLI's colours and a terminal's merged output back).
OPT_OUT = ("SSMLAB_AWS_CLI", "shell")


def install(precheck=None) -> bool:
    """Route plain ``!aws`` lines through the helper from now on, and start it while the
    learner reads. True if it did (under IPython, unless ``SSMLAB_AWS_CLI=shell``).
    ``precheck()``, if given, runs before each command: a sentence it returns is printed
    instead of running the command."""
    global _precheck
    if os.environ.get(OPT_OUT[0], "").strip().lower() == OPT_OUT[1]:
        uninstall()
        return False
    _precheck = precheck
    if _moto.running_ipython() is None:
        return False
    for module in _modules_running_shell_commands():
        if module not in _patched and not getattr(module.system, "ssmlab_aws_cli", False):
            _patched[module] = module.system
            module.system = _system_with_the_cli_ready(module.system)
    _helper()
    return True


def uninstall() -> None:
    """Give ``!`` lines back to the shell alone and stop the helper."""
    global _zygote, _precheck
    _precheck = None
    while _patched:
        module, system = _patched.popitem()
        module.system = system
    if _zygote is not None:
        _zygote.close()
        _zygote = None
