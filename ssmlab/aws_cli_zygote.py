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

import json
import os
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
    from awscli.clidriver import create_clidriver

    driver = create_clidriver()
    loader = driver.session.get_component("data_loader")
    loader.list_available_services("service-2")
    for name in ("endpoints", "partitions", "sdk-default-configuration", "_retry", "cli"):
        try:
            loader.load_data(name)
        except Exception:  # noqa: BLE001 - only a cache warm-up; the CLI reports real errors
            pass
    for service in WARM_SERVICES:
        for kind in ("service-2", "paginators-1", "waiters-2"):
            try:
                loader.load_service_model(service, kind)
            except Exception:  # noqa: BLE001 - as above
                pass
    return loader, os.environ.get("AWS_DATA_PATH", "")


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
    loader, loader_path = warm_up()
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
        pid = os.fork()
        if pid == 0:
            code = 255
            try:
                sock.close()
                code = run_child(request, out_fd, err_fd, loader, loader_path)
            finally:
                os._exit(code if isinstance(code, int) and 0 <= code < 256 else 255)
        os.close(out_fd)
        os.close(err_fd)
        sock.sendall(f"pid {pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code < 0:  # killed by a signal: what a shell reports
            code = 128 - code
        sock.sendall(f"exit {code}\n".encode())


if __name__ == "__main__":
    serve(int(sys.argv[1]))
