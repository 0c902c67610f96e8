# SPDX-License-Identifier: MIT
# Network faults for real, and only inside a private network namespace: the
# test process moves into a new namespace of its own (everything it starts
# follows it), brings its loopback up, and drops chosen connections' packets
# with nftables, both ways and without a reset, as a black hole does.  On
# the way out the namespace is left and with it every rule.
import contextlib
import ctypes
import os
import subprocess

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class Unavailable(Exception):
    pass


def _nft(*args):
    r = subprocess.run(["nft"] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("nft %s: %s" % (" ".join(args), r.stderr.strip()))


@contextlib.contextmanager
def private_network():
    """Run the body in a fresh network namespace with lo up and an empty
    nftables filter table 'rs' with an input chain."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        if _libc.unshare(CLONE_NEWNET) != 0:
            raise Unavailable("unshare(CLONE_NEWNET): %s" % os.strerror(ctypes.get_errno()))
        try:
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            _nft("add", "table", "inet", "rs")
            _nft("add", "chain", "inet", "rs", "input",
                 "{ type filter hook input priority 0; policy accept; }")
            yield
        finally:
            if _libc.setns(home, CLONE_NEWNET) != 0:
                raise RuntimeError("setns back: %s" % os.strerror(ctypes.get_errno()))
    finally:
        os.close(home)


def black_hole(local_port):
    """Drop every packet to or from the TCP port LOCAL_PORT (a client's end):
    on loopback both directions pass the input hook."""
    _nft("add", "rule", "inet", "rs", "input", "tcp", "sport", str(local_port), "drop")
    _nft("add", "rule", "inet", "rs", "input", "tcp", "dport", str(local_port), "drop")


def lift_all():
    _nft("flush", "chain", "inet", "rs", "input")
