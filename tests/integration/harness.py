# SPDX-License-Identifier: MIT
# Shared pieces of the integration tests: starting the real ringside binary,
# raw TCP clients that record every byte they receive, and a tiny runner that
# prints one line per test and ends with "N passed, N failed".
import os
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

BIN = os.environ.get("RINGSIDE_BIN", "build/ringside")


class TestFailure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def free_port():
    """A port nobody listens on right now (the kernel's choice)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(n, soft), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


class Session:
    """ringside hosting PROGRAM; the console is on pipes unless noio."""

    def __init__(self, servers, program, extra=(), noio=False, env=None):
        args = [BIN]
        for spec in servers:
            args += ["-server", spec]
        if noio:
            args.append("-noio")
        args += list(extra)
        args += ["--"] + list(program)
        self.args = args
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL if noio else subprocess.PIPE,
            stdout=subprocess.DEVNULL if noio else subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.console_out = bytearray()
        self.stderr = bytearray()
        for fd in (self.proc.stdout, self.proc.stderr):
            if fd:
                os.set_blocking(fd.fileno(), False)

    def pump(self):
        """Collect whatever the console and stderr have written so far."""
        for f, buf in ((self.proc.stdout, self.console_out), (self.proc.stderr, self.stderr)):
            if not f:
                continue
            while True:
                try:
                    data = os.read(f.fileno(), 65536)
                except BlockingIOError:
                    break
                if not data:
                    break
                buf += data

    def console_type(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def console_wait(self, pattern, timeout=10):
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        while time.monotonic() < deadline:
            self.pump()
            if rx.search(self.console_out):
                return
            time.sleep(0.02)
        raise TestFailure("console never showed %r; last bytes: %r"
                          % (pattern, bytes(self.console_out[-300:])))

    def wait_exit(self, timeout=10):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("ringside did not exit within %ss" % timeout)
        self.pump()
        return rc

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.pump()
        # Under SANITIZE=1 a sanitizer report must fail the test that caused it.
        for marker in (b"AddressSanitizer", b"LeakSanitizer", b"runtime error:"):
            if marker in self.stderr:
                at = self.stderr.index(marker)
                raise TestFailure("sanitizer report: %r" % bytes(self.stderr[at:at + 600]))


def wait_listening(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.close()
            return
        except OSError:
            time.sleep(0.05)
    raise TestFailure("nothing listens on port %d" % port)


class Client:
    """A raw TCP client, like nc: lines out, every byte in kept."""

    def __init__(self, port, host="127.0.0.1", rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect((host, port))
        self.sock.setblocking(False)
        self.data = bytearray()
        self.eof = False

    def fileno(self):
        return self.sock.fileno()

    def pump(self, wait=0.0):
        if self.eof:
            return False
        p = select.poll()
        p.register(self.sock, select.POLLIN)
        if not p.poll(wait * 1000):
            return False
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except BlockingIOError:
                return True
            except ConnectionResetError:
                self.eof = True
                return True
            if not chunk:
                self.eof = True
                return True
            self.data += chunk

    def send_line(self, line):
        data = (line if isinstance(line, bytes) else line.encode()) + b"\n"
        self.sock.setblocking(True)
        self.sock.sendall(data)
        self.sock.setblocking(False)

    def wait_for(self, pattern, timeout=10, start=0):
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.data, start)
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                raise TestFailure("client never got %r%s; last bytes: %r"
                                  % (pattern, " (connection closed)" if self.eof else "",
                                     bytes(self.data[-400:])))
            self.pump(min(left, 0.2))

    def wait_eof(self, timeout=10):
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self.pump(0.2)
        check(self.eof, "connection still open after %ss" % timeout)

    def text(self):
        return self.data.decode("utf-8", "replace")

    def close(self):
        self.sock.close()


def start(servers, program, **kw):
    """A Session whose tcp servers are listening when it returns."""
    s = Session(servers, program, **kw)
    for spec in servers:
        m = re.search(r"port=(\d+)", spec)
        if m:
            wait_listening(int(m.group(1)))
    return s


BASH = ["bash", "--norc", "--noprofile", "-i"]


def read_until_quiet(client, quiet=0.5, limit=10.0, max_bytes=None):
    """Read until nothing has arrived for QUIET seconds, for at most LIMIT
    seconds; fail if more than MAX_BYTES arrive (a server sending without end)."""
    since, deadline = time.monotonic(), time.monotonic() + limit
    while time.monotonic() < deadline and time.monotonic() - since < quiet:
        if client.pump(0.1):
            since = time.monotonic()
        if max_bytes is not None:
            check(len(client.data) <= max_bytes,
                  "%d bytes arrived, more than %d: sent without end?" % (len(client.data), max_bytes))


def numbers_in_order(data, line=rb"(\d+)"):
    """Check that the numbered lines of a raw stream (the LINE pattern, the
    number in its first group) never repeat or go back, across skip markers;
    returns (markers, last number).  A line cut by a skip, or broken in two
    by a notice, is not counted: only lines between two numbered lines are."""
    rx = re.compile(line + rb"$")
    parts = re.split(rb"\r\n\[ringside: \d+ bytes skipped\]\r\n", bytes(data))
    last = 0
    for part in parts:
        lines = part.split(b"\r\n")
        nums = [rx.match(x) for x in lines]
        for i in range(len(lines)):
            if not nums[i]:
                continue
            n = int(nums[i].group(1))
            inside = 0 < i < len(lines) - 1 and nums[i - 1] and nums[i + 1]
            if n == last + 1 or inside:
                check(n > last, "number %d after %d: output repeated or out of order" % (n, last))
                last = n
    return len(parts) - 1, last


class Relay:
    """A TCP relay that records both directions and can cut its current
    connections (the listener stays, so the client can come back).  With
    CUT_AFTER it also cuts the first connection by itself once that many
    server-to-client bytes have passed (cuts counts how often)."""

    def __init__(self, target_port, cut_after=None, cut_upstream=False):
        self.target = target_port
        self.cut_after = cut_after
        # Count CUT_AFTER in the bytes flowing to the target instead (a
        # reverse connection: the server is the one that dials in).
        self.cut_upstream = cut_upstream
        self.cuts = 0
        self.up = bytearray()       # client -> server, all connections
        self.down = bytearray()
        self.conns = []
        self.lock = threading.Lock()
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.stop = False
        self.holding = False        # new connections are closed at once
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.lsock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                continue
            if self.holding:
                c.close()
                continue
            try:
                s = socket.create_connection(("127.0.0.1", self.target))
            except OSError:     # the server is down: so is this connection
                c.close()
                continue
            with self.lock:
                self.conns.append((c, s))
            threading.Thread(target=self._pipe, args=(c, s), daemon=True).start()

    def _pipe(self, c, s):
        pairs = {c: s, s: c}
        down = 0
        while not self.stop:
            try:
                r, _, _ = select.select([c, s], [], [], 0.2)
            except (OSError, ValueError):
                return
            for x in r:
                try:
                    d = x.recv(65536)
                except OSError:
                    d = b""
                if not d:
                    self._close(c, s)
                    return
                counted = x is c if self.cut_upstream else x is s
                cut = counted and self.cut_after is not None and self.cuts == 0 and \
                    down + len(d) > self.cut_after
                if cut:
                    d = d[:self.cut_after - down]
                    self.cuts += 1
                if counted:
                    down += len(d)
                (self.up if x is c else self.down).extend(d)
                try:
                    pairs[x].sendall(d)
                except OSError:
                    cut = True
                if cut:
                    self._close(c, s)
                    return

    def _close(self, c, s):
        for x in (c, s):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            x.close()

    def cut(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for c, s in conns:
            self._close(c, s)

    def close(self):
        self.stop = True
        self.cut()
        self.thread.join(2)
        self.lsock.close()


def pump_all(clients, timeout):
    """Read from every client until all are quiet for TIMEOUT seconds."""
    while True:
        by_fd = {c.fileno(): c for c in clients if not c.eof}
        if not by_fd:
            return
        p = select.poll()  # select() stops at fd 1024; tests use thousands
        for fd in by_fd:
            p.register(fd, select.POLLIN)
        ready = p.poll(timeout * 1000)
        if not ready:
            return
        for fd, _ in ready:
            by_fd[fd].pump()


def build_debuggee(workdir):
    """A small C program for gdb to debug, compiled with symbols."""
    src = os.path.join(workdir, "debuggee.c")
    exe = os.path.join(workdir, "debuggee")
    with open(src, "w") as f:
        f.write(
            "#include <stdio.h>\n"
            "int add(int a, int b) { return a + b; }\n"
            "int main(void) {\n"
            "    int total = 0;\n"
            "    for (int i = 0; i < 3; i++)\n"
            "        total = add(total, i);\n"
            "    printf(\"total=%d\\n\", total);\n"
            "    return 0;\n"
            "}\n")
    subprocess.run(["gcc", "-g", "-O0", "-o", exe, src], check=True)
    return exe


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def slow(fn):
    """A test that mostly waits out real timers: --skip-slow leaves it out
    (the sanitizer run, where it would find nothing the fast run does not)."""
    fn.slow = True
    return fn


def run_tests(selected=None, skip_slow=False):
    passed = failed = 0
    workdir = tempfile.mkdtemp(prefix="ringside-it-")
    for fn in TESTS:
        if selected and fn.__name__ not in selected:
            continue
        if skip_slow and getattr(fn, "slow", False) and not selected:
            print("SKIP %s (slow; run without --skip-slow)" % fn.__name__)
            continue
        t0 = time.monotonic()
        try:
            fn(workdir)
        except Exception as e:  # one test's failure must not stop the rest
            failed += 1
            print("FAIL %s (%.1fs): %s" % (fn.__name__, time.monotonic() - t0, e))
            if not isinstance(e, TestFailure):
                traceback.print_exc(file=sys.stdout)
        else:
            passed += 1
            print("PASS %s (%.1fs)" % (fn.__name__, time.monotonic() - t0))
        sys.stdout.flush()
    print("integration: %d passed, %d failed" % (passed, failed))
    return failed == 0
