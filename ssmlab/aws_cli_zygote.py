"""The AWS CLI, started once and forked for each ``!aws`` line (see ``ssmlab.aws_cli``).

Run as ``python -c ...`` by ``ssmlab.aws_cli`` with one end of a Unix socket pair; it
imports nothing of ssmlab (standard library and ``awscli`` only), so ``awscli`` loads its
own botocore exactly as the ``aws`` program does. It imports the CLI, reads the service
models the lessons use, then waits. For each request -- the arguments, the environment
and the working directory of the kernel, and the write ends of two pipes for standard
output and error -- it forks: the child takes that environment, directory and those pipes
and runs the CLI as the ``aws`` program's ``main`` would, then exits with its exit code.
The parent reports the child's pid, then its exit code.

Protocol (the kernel sends one request at a time): request = 4-byte big-endian length +
JSON ``{"args": [...], "env": {...}, "cwd": "..."}``, with the two pipe descriptors
attached to it (SCM_RIGHTS); replies = the lines ``pid N`` and ``exit N``.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import socket
import struct
import sys

#: Services whose models are read before the first request (the lessons' services).
WARM_SERVICES = ("iam", "sts", "ec2", "cloudformation", "ssm")


def data_path(env: dict) -> str:
    """AWS_DATA_PATH as ``import awscli`` leaves it for the ``aws`` program (awscli/__init__)."""
    import awscli

    paths = [
        os.path.expanduser(os.path.expandvars(p))
        for p in env["AWS_DATA_PATH"].split(os.pathsep)
    ] if "AWS_DATA_PATH" in env else []
    paths.append(os.path.join(os.path.dirname(os.path.abspath(awscli.__file__)), "data"))
    return os.pathsep.join(paths)


def warm_up():
    """Import the CLI and read the models; return the botocore data loader holding them."""
    import awscli  # noqa: F401  (from here on, ``botocore`` is awscli's own)
    import botocore.loaders
    from awscli.clidriver import create_clidriver

    from botocore.exceptions import DataNotFoundError, UnknownServiceError

    # The models kept ready as plain dicts, not the loader's OrderedDicts: the same keys in
    # the same order, about a third less memory (EC2's: 9.1 MiB instead of 13.9).
    botocore.loaders.OrderedDict = dict

    driver = create_clidriver()
    loader = driver.session.get_component("data_loader")
    loader.list_available_services("service-2")
    for name in ("endpoints", "partitions", "sdk-default-configuration", "_retry", "cli"):
        try:
            loader.load_data(name)
        except DataNotFoundError:  # only a cache warm-up; the CLI reports real errors
            pass
    for service in WARM_SERVICES:
        for kind in ("service-2", "paginators-1", "waiters-2"):
            try:
                loader.load_service_model(service, kind)
            except (DataNotFoundError, UnknownServiceError):  # as above
                pass
    return loader, os.environ.get("AWS_DATA_PATH", "")


def give_back_freed_memory() -> None:
    """Return to the system what reading the models freed (the files' text, parsing's
    garbage): glibc keeps freed heap for reuse until ``malloc_trim(3)``; about 3 MiB of
    this helper's resident memory. Nothing elsewhere (no glibc)."""
    import gc

    gc.collect()
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None) if sys.platform.startswith("linux") else None
    if trim is not None:
        trim(0)


#: prctl(2)'s PR_SET_PDEATHSIG: a signal the kernel sends this process when its parent
#: (the thread that forked it) ends (docs/aws-facts.md#robust-helper-lifetime).
PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """On Linux, be killed when ``parent`` ends, even by kill -9; exit if it already has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it ended before prctl took effect
        os._exit(255)


def wait_for_child(sock: socket.socket, pid: int, wakeup: int) -> int | None:
    """The child's wait status, or None if the kernel went away meanwhile (its end of the
    socket closed: its process ended, kill -9 included): then the child is killed too."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        readable, _, _ = select.select([sock, wakeup], [], [])
        if wakeup in readable:
            try:
                os.read(wakeup, 512)
            except BlockingIOError:
                pass
        if sock in readable:
            if sock.recv(1, socket.MSG_PEEK):  # not the protocol: just wait for the child
                return os.waitpid(pid, 0)[1]
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None


def run_child(request: dict, out_fd: int, err_fd: int, loader, loader_path: str) -> int:
    """In the forked child: become the ``aws`` program for this request; its exit code."""
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    os.close(out_fd)
    os.close(err_fd)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    env = dict(request["env"])
    env["AWS_DATA_PATH"] = data_path(env)
    if env.get("LC_CTYPE", "") == "UTF-8":  # as the aws program's script does
        env["LC_CTYPE"] = "en_US.UTF-8"
    os.environ.clear()
    os.environ.update(env)
    os.chdir(request["cwd"])
    sys.argv = ["aws", *request["args"]]
    from awscli.clidriver import create_clidriver

    try:
        driver = create_clidriver()
        if env["AWS_DATA_PATH"] == loader_path:
            driver.session.register_component("data_loader", loader)
        code = driver.main(list(request["args"]))
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # done: a late interrupt changes nothing
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def _read_exactly(sock: socket.socket, size: int, got: bytes = b"") -> bytes | None:
    """``size`` bytes, starting with those already ``got``; None if the kernel has gone."""
    while len(got) < size:
        more = sock.recv(size - len(got))
        if not more:
            return None
        got += more
    return got


def _receive(sock: socket.socket):
    """One request and its two descriptors, or None when the kernel has gone."""
    head, fds, _, _ = socket.recv_fds(sock, 4, 2)
    head = _read_exactly(sock, 4, head) if head else None
    if head is None:
        return None
    body = _read_exactly(sock, struct.unpack(">I", head)[0])
    return None if body is None else (json.loads(body), fds)


def serve(fd: int) -> None:
    # The kernel's interrupt may be sent to its whole process group: it is for the child.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    # A child's end wakes the wait below (select on this pipe), as does the kernel's end
    # (its end of the socket closes, whichever way its process ends).
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_read, False)
    os.set_blocking(wakeup_write, False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wakeup_write)
    loader, loader_path = warm_up()
    give_back_freed_memory()
    sys.stdout.flush()
    sys.stderr.flush()
    while True:
        received = _receive(sock)
        if received is None:
            return
        request, fds = received
        if len(fds) != 2:
            for extra in fds:
                os.close(extra)
            sock.sendall(b"pid 0\nexit 255\n")
            continue
        out_fd, err_fd = fds
        zygote = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 255
            try:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                for own in (wakeup_read, wakeup_write):
                    os.close(own)
                die_with_parent(zygote)  # the CLI ends with this helper, so with the kernel
                sock.close()
                code = run_child(request, out_fd, err_fd, loader, loader_path)
            finally:
                os._exit(code if isinstance(code, int) and 0 <= code < 256 else 255)
        os.close(out_fd)
        os.close(err_fd)
        sock.sendall(f"pid {pid}\n".encode())
        status = wait_for_child(sock, pid, wakeup_read)
        if status is None:
            return  # the kernel has gone: so does its helper, and the command with it
        code = os.waitstatus_to_exitcode(status)
        if code < 0:  # killed by a signal: what a shell reports
            code = 128 - code
        sock.sendall(f"exit {code}\n".encode())


if __name__ == "__main__":
    if len(sys.argv) > 2:
        die_with_parent(int(sys.argv[2]))  # see aws_cli._Zygote
    serve(int(sys.argv[1]))
