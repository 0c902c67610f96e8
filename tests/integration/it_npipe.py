# SPDX-License-Identifier: MIT
# npipe: WinDbg's named pipes as Unix sockets in a private runtime
# directory, with raw clients (socat, nc -U), the native client, name reuse,
# stale sockets, peers of another uid and a planted symlink.
import os
import re
import socket
import stat
import subprocess
import tempfile
import time

import harness
from harness import BASH, Session, TestFailure, check, test

ANY_PROMPT = rb"bash-[\d.]+[#$] "


def pipe_env(workdir, name="pipes"):
    d = tempfile.mkdtemp(prefix=name + "-", dir=workdir)
    os.chmod(d, 0o700)
    return d, dict(os.environ, RINGSIDE_PIPE_DIR=d)


def start_pipe(spec, env, extra=(), expect_path=None, timeout=10):
    s = Session([spec], BASH, extra=list(extra), noio=True, env=env)
    deadline = time.monotonic() + timeout
    while expect_path and not os.path.exists(expect_path):
        s.pump()
        if s.proc.poll() is not None or time.monotonic() > deadline:
            raise TestFailure("no socket at %s: %r" % (expect_path, bytes(s.stderr[-400:])))
        time.sleep(0.05)
    return s


class UnixClient(harness.Client):
    """harness.Client over a Unix socket."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.sock.setblocking(False)
        self.data = bytearray()
        self.eof = False


@test
def test_npipe_raw_and_native_clients(workdir):
    d, env = pipe_env(workdir)
    s = start_pipe("npipe:pipe=dbg_%d", env, expect_path=None)
    try:
        deadline = time.monotonic() + 10
        while not os.listdir(d) and time.monotonic() < deadline:
            time.sleep(0.05)
        names = os.listdir(d)
        check(names == ["dbg_%d" % s.proc.pid], "pipe names: %r" % names)
        path = os.path.join(d, names[0])
        st = os.lstat(path)
        check(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600,
              "socket mode %o" % st.st_mode)
        check(stat.S_IMODE(os.stat(d).st_mode) == 0o700, "directory is not private")
        a = UnixClient(path)
        a.wait_for(ANY_PROMPT)
        a.send_line(".servers")
        a.wait_for(r"0 - Debugger Server - npipe:Pipe=dbg_%d\r\n" % s.proc.pid)
        # socat and nc -U as raw clients.
        r = subprocess.run(["socat", "-t", "2", "-", "UNIX-CONNECT:" + path],
                           input=b"echo via-socat-$((1+1))\n", capture_output=True, timeout=20)
        check(b"via-socat-2" in r.stdout, "socat saw %r" % r.stdout[-300:])
        r = subprocess.run(["nc", "-N", "-w", "2", "-U", path],
                           input=b"echo via-nc-$((2+2))\n", capture_output=True, timeout=20)
        check(b"via-nc-4" in r.stdout, "nc -U saw %r" % r.stdout[-300:])
        # Identities carry the peer's real user and pid.
        a.wait_for(r"[^\s\\]+\\root \(npipe dbg_%d pid \d+\): echo via-socat" % s.proc.pid)
        # The native client.
        r = subprocess.run([harness.BIN, "-remote", "npipe:server=.,pipe=%s" % names[0]],
                           input=b"echo native-$((3+4))\n", capture_output=True, timeout=20,
                           env=env)
        check(r.returncode == 0 and b"native-7" in r.stdout,
              "native client: %d %r %r" % (r.returncode, r.stdout[-300:], r.stderr[-300:]))
        r = subprocess.run([harness.BIN, "-remote", "npipe:server=elsewhere,pipe=x"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=10, env=env)
        check(r.returncode == 2 and b"pipes are local to this machine" in r.stderr,
              "server=elsewhere: %r" % r.stderr)
        # .endsrv removes the socket; clients already in stay.
        a.send_line(".endsrv 0")
        a.wait_for(r"Server told to exit")
        deadline = time.monotonic() + 5
        while os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        check(not os.path.exists(path), "the socket outlived .endsrv")
        a.send_line("echo still-$((5+5))")
        a.wait_for(r"still-10")
    finally:
        s.close()


@test
def test_npipe_name_reuse_stale_socket_and_exit(workdir):
    d, env = pipe_env(workdir)
    path = os.path.join(d, "shared")
    first = start_pipe("npipe:pipe=shared", env, expect_path=path)
    try:
        r = subprocess.run([harness.BIN, "-server", "npipe:pipe=shared", "-noio", "--", "true"],
                           capture_output=True, timeout=20, env=env)
        err = r.stderr.decode(errors="replace")
        check(r.returncode != 0 and "pipe shared is in use by another server" in err,
              "a second server on a live name: %d %r" % (r.returncode, err))
    finally:
        first.close()
    check(not os.path.exists(path), "the socket outlived its server's exit")
    # A socket nobody listens on (a crashed server) is replaced.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    check(os.path.exists(path), "could not plant a stale socket")
    s = start_pipe("npipe:pipe=shared", env)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                c = UnixClient(path)
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise TestFailure("the stale socket was not replaced: %r" % bytes(s.stderr[-300:]))
        c.wait_for(ANY_PROMPT)
    finally:
        s.close()
    # A regular file in the way is never removed.
    with open(path, "w") as f:
        f.write("keep me")
    r = subprocess.run([harness.BIN, "-server", "npipe:pipe=shared", "-noio", "--", "true"],
                       capture_output=True, timeout=20, env=env)
    check(r.returncode != 0 and open(path).read() == "keep me",
          "a file in the way: %d %r" % (r.returncode, r.stderr))


@test
def test_npipe_peer_of_another_uid(workdir):
    """SO_PEERCRED: a peer of another uid is refused unless allow= names it;
    the directory must be opened for search (chmod 711) for it to get that far."""
    if os.geteuid() != 0:
        raise TestFailure("needs root to act as another uid (CI runs as root)")
    d, env = pipe_env(workdir, "shared")
    os.chmod(workdir, 0o711)
    os.chmod(d, 0o711)
    path = os.path.join(d, "team")
    s = start_pipe("npipe:pipe=team,allow=nobody", env, expect_path=path)
    try:
        check(stat.S_IMODE(os.lstat(path).st_mode) == 0o666, "shared socket mode")

        def as_uid(uid, line):
            return subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid,
                                   "--clear-groups", "socat", "-t", "2", "-",
                                   "UNIX-CONNECT:" + path],
                                  input=line, capture_output=True, timeout=20)
        ok = as_uid(65534, b"echo nobody-$((6+6))\n")
        check(b"nobody-12" in ok.stdout, "allow=nobody was not let in: %r %r"
              % (ok.stdout[-300:], ok.stderr[-300:]))
        other = as_uid(65533, b"echo other-$((7+7))\n")
        check(b"other-14" not in other.stdout, "a peer not allowed reached the program")
        check(re.search(rb"connection refused: npipe team: uid 65533 .*not allowed", other.stdout),
              "the refused peer was not told why: %r" % other.stdout[-300:])
    finally:
        s.close()
    # Without allow=, the directory is private again and must be: 0711 is refused.
    r = subprocess.run([harness.BIN, "-server", "npipe:pipe=solo", "-noio", "--", "true"],
                       capture_output=True, timeout=20, env=env)
    check(r.returncode != 0 and b"chmod 700" in r.stderr,
          "a private pipe in a 0711 directory: %r" % r.stderr)


@test
def test_npipe_symlinked_runtime_directory_refused(workdir):
    real = tempfile.mkdtemp(prefix="real-", dir=workdir)
    os.chmod(real, 0o700)
    link = os.path.join(workdir, "planted-link")
    os.symlink(real, link)
    env = dict(os.environ, RINGSIDE_PIPE_DIR=link)
    r = subprocess.run([harness.BIN, "-server", "npipe:pipe=x", "-noio", "--", "true"],
                       capture_output=True, timeout=20, env=env)
    check(r.returncode != 0 and (b"symbolic link" in r.stderr.lower() or b"symlink" in r.stderr),
          "a symlinked directory: %d %r" % (r.returncode, r.stderr))
    check(os.listdir(real) == [], "something was created through the symlink")
