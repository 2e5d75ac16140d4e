"""Loaded by a child Python (the aws CLI) in the isolation tests: any name lookup of, or
connection to, an address outside loopback fails and is written to $SSMLAB_GUARD_LOG."""

import os
import socket

LOOPBACK = ("127.0.0.1", "::1", "localhost")
_connect = socket.socket.connect
_getaddrinfo = socket.getaddrinfo


def _refuse(host):
    with open(os.environ["SSMLAB_GUARD_LOG"], "a") as log:
        log.write(f"{host}\n")
    raise OSError(f"loopback guard: {host} is outside loopback")


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host is not None and str(host) not in LOOPBACK:
        _refuse(host)
    return _getaddrinfo(host, *args, **kwargs)


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else str(address)
    if self.family in (socket.AF_INET, socket.AF_INET6) and host not in LOOPBACK:
        _refuse(host)
    return _connect(self, address)


socket.getaddrinfo = _guarded_getaddrinfo
socket.socket.connect = _guarded_connect
