# SPDX-License-Identifier: MIT
# Shared pieces of the integration tests: starting the real ringside binary,
# raw TCP clients that record every byte they receive, ports that tests
# running side by side do not share, and the runner, which prints one line
# per test and ends with "N passed, N failed": tests one after another in one
# process, or N at a time, each in a process of its own (run.py --jobs N).
import os
import re
import resource
import select
import shutil
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


# Ports for servers the tests start.  Not the kernel's choice (bind to port 0, read it, close):
# that port sits in the ephemeral range, where any connect() on the machine may take it as its
# local port before our server binds it, and two tests running at once (run.py --jobs) could be
# handed the same one.  Instead ports come from below (or above) the ephemeral range, which the
# kernel never hands out by itself, in order from a place of our own: the runner gives each test
# a block of its own in RINGSIDE_IT_PORTS=LO-HI; a run in one process starts at a random place,
# so that two runs on one machine rarely meet.  A port is only handed out if it can be bound.
PORT_FLOOR = 10000
_ports_lock = threading.Lock()
_ports = None   # [next, lo, hi): the span being handed out


def port_space():
    """(lo, hi): the ports the kernel never picks by itself, or None if there are too few."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        return None
    if low - PORT_FLOOR >= 2000:
        return PORT_FLOOR, low
    if 65536 - (high + 1) >= 2000:
        return high + 1, 65536
    return None


def _port_is_free(port):
    """Bindable on every address without SO_REUSEADDR: nothing listens on it, and no
    connection of a test that used it lately lingers in TIME_WAIT (blocks of ports are used
    again after a minute or so of quick tests)."""
    tried = 0
    for family, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            s = socket.socket(family)
        except OSError:
            continue            # no IPv6 here: IPv4 decides
        try:
            s.bind((addr, port))
            tried += 1
        except OSError:
            return False
        finally:
            s.close()
    return tried > 0


def _kernel_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_port():
    """A port nobody listens on right now, from this test's block (see above)."""
    global _ports
    with _ports_lock:
        if _ports is None:
            m = re.fullmatch(r"(\d+)-(\d+)", os.environ.get("RINGSIDE_IT_PORTS", ""))
            span = (int(m.group(1)), int(m.group(2))) if m else port_space()
            if span is None:
                _ports = [0, 0, 0]
            else:
                lo, hi = span
                _ports = [lo if m else lo + int.from_bytes(os.urandom(4), "big") % (hi - lo),
                          lo, hi]
        nxt, lo, hi = _ports
        for _ in range(hi - lo):
            port = nxt
            nxt = nxt + 1 if nxt + 1 < hi else lo
            if _port_is_free(port):
                _ports[0] = nxt
                return port
    # No span, or a test used up its block: the kernel's choice, as before.
    return _kernel_port()


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(n, soft), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


SANITIZER_MARKERS = (b"AddressSanitizer", b"LeakSanitizer", b"runtime error:")


def check_clean(stderr, who):
    """Under SANITIZE=1 a sanitizer report in STDERR fails the test that caused it;
    WHO names the process in the failure."""
    for marker in SANITIZER_MARKERS:
        if marker in stderr:
            at = stderr.index(marker)
            raise TestFailure("%s sanitizer report: %r" % (who, bytes(stderr[at:at + 600])))


class LoggedProcess:
    """A process a test started, its stderr (and stdout, when that is a pipe) collected as
    it comes: wait for a pattern in its log, wait for its exit, stop it.  Under SANITIZE=1 a
    sanitizer report in its stderr fails the test that started it, when it is closed."""

    WHO = "ringside"                # how messages name it
    WAIT = 10                       # seconds wait_log and wait_exit wait unless told

    def __init__(self, args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=None):
        self.args = args
        self.proc = subprocess.Popen(args, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                                     env=env)
        self.out = bytearray()
        self.stderr = bytearray()
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                os.set_blocking(f.fileno(), False)

    def pump(self):
        """Collect whatever it has written so far."""
        for f, buf in ((self.proc.stdout, self.out), (self.proc.stderr, self.stderr)):
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

    def wait_log(self, pattern, timeout=None):
        timeout = self.WAIT if timeout is None else timeout
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump()
            if rx.search(self.stderr):
                return
            time.sleep(0.05)
        raise TestFailure("%s never logged %r: %r" % (self.WHO, pattern, bytes(self.stderr[-600:])))

    def wait_exit(self, timeout=None):
        timeout = self.WAIT if timeout is None else timeout
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("%s did not exit within %ss" % (self.WHO, timeout))
        self.pump()
        return rc

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.pump()
        check_clean(self.stderr, self.WHO)


class Session(LoggedProcess):
    """ringside hosting PROGRAM; the console is on pipes unless noio."""

    def __init__(self, servers, program, extra=(), noio=False, env=None):
        args = [BIN]
        for spec in servers:
            args += ["-server", spec]
        if noio:
            args.append("-noio")
        args += list(extra)
        args += ["--"] + list(program)
        pipe = subprocess.DEVNULL if noio else subprocess.PIPE
        super().__init__(args, stdin=pipe, stdout=pipe, env=env)

    @property
    def console_out(self):
        """What the console has shown so far (collected by pump())."""
        return self.out

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

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0


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


def exclusive(fn):
    """A test that must have the machine to itself under run.py --jobs: it
    measures CPU, throughput or wall-clock rates that other tests running at
    the same time would distort, or loads the machine so hard that others'
    time limits would suffer.  It runs alone, before the others."""
    fn.exclusive = True
    return fn


class TestTimeout(BaseException):
    """The runner stopped a test that went past its time limit.  Not an
    Exception, so that a test's own `except Exception` cannot swallow it on
    the way to its finally: blocks."""


def run_one(fn, workdir):
    """Run one test and print its PASS/FAIL line; True if it passed."""
    t0 = time.monotonic()
    try:
        fn(workdir)
    except (Exception, TestTimeout) as e:  # one test's failure must not stop the rest
        print("FAIL %s (%.1fs): %s" % (fn.__name__, time.monotonic() - t0, e))
        if not isinstance(e, (TestFailure, TestTimeout)):
            traceback.print_exc(file=sys.stdout)
        ok = False
    else:
        print("PASS %s (%.1fs)" % (fn.__name__, time.monotonic() - t0))
        ok = True
    sys.stdout.flush()
    return ok


def chosen_tests(selected, skip_slow):
    """The tests to run, in order; prints a SKIP line for each slow one left out."""
    out = []
    for fn in TESTS:
        if selected and fn.__name__ not in selected:
            continue
        if skip_slow and getattr(fn, "slow", False) and not selected:
            print("SKIP %s (slow; run without --skip-slow)" % fn.__name__)
            continue
        out.append(fn)
    sys.stdout.flush()
    return out


def summary(passed, failed):
    print("integration: %d passed, %d failed" % (passed, failed))
    return failed == 0


def run_tests(selected=None, skip_slow=False):
    """All chosen tests one after another in this process, in one workdir."""
    passed = failed = 0
    workdir = tempfile.mkdtemp(prefix="ringside-it-")
    for fn in chosen_tests(selected, skip_slow):
        if run_one(fn, workdir):
            passed += 1
        else:
            failed += 1
    if failed:
        print("  the tests' files are kept in %s" % workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return summary(passed, failed)


# ---- running tests side by side (run.py --jobs N) ---------------------------
#
# Each test runs in a child process of its own (run.py --one NAME), with a
# workdir and a block of ports of its own; its output goes to a file and is
# printed whole once it ends.  Tests marked @exclusive run first, one at a
# time, with nothing beside them.  A test past the time limit is sent SIGTERM
# (TestTimeout in the child: its finally: blocks stop what it started); if it
# has not ended GRACE seconds later, it and everything below it is killed.

GRACE = 20
PORT_BLOCK = 200


def _descendants(pid):
    """The pids of every process below PID, from /proc (a snapshot)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), ()):
            out.append(c)
            todo.append(c)
    return out


class _Child:
    """One test running in a process of its own."""

    def __init__(self, fn, argv, env, workdir):
        self.fn = fn
        self.workdir = workdir
        self.out = tempfile.TemporaryFile()
        self.t0 = time.monotonic()
        self.termed = None      # when it was sent SIGTERM for going past the limit
        self.killed = False
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def kill_tree(self):
        """SIGKILL the child and every process it started (found before the kill, since
        orphans are handed to init), and its process group."""
        for pid in [self.proc.pid] + _descendants(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self.killed = True

    def report(self, limit):
        """Print what the test printed, whole, and a FAIL line if it could not; True if it
        passed."""
        self.out.seek(0)
        text = self.out.read().decode(errors="replace")
        self.out.close()
        sys.stdout.write(text)
        if text and not text.endswith("\n"):
            sys.stdout.write("\n")
        rc = self.proc.returncode
        took = time.monotonic() - self.t0
        name = self.fn.__name__
        if self.killed:
            print("FAIL %s (%.1fs): went past the %d s limit and did not stop within %d s of "
                  "SIGTERM: killed with everything it started" % (name, took, limit, GRACE))
        elif rc != 0 and not re.search(r"(?m)^FAIL %s \(" % re.escape(name), text):
            how = "was killed by signal %d" % -rc if rc < 0 else "exited with status %d" % rc
            print("FAIL %s (%.1fs): its process %s before it reported" % (name, took, how))
        sys.stdout.flush()
        return rc == 0 and not self.killed


def run_parallel(selected, skip_slow, jobs, limit, command):
    """Run the chosen tests JOBS at a time, each in a child process started with
    COMMAND(name, workdir) (argv); LIMIT is each test's time limit in seconds."""
    fns = chosen_tests(selected, skip_slow)
    # The exclusive ones first (nothing waits for them to have the machine), then the slow
    # ones, which wait out the longest timers: started early, they do not end the run alone.
    queue = sorted(fns, key=lambda fn: (not getattr(fn, "exclusive", False),
                                        not getattr(fn, "slow", False)))
    rundir = tempfile.mkdtemp(prefix="ringside-it-")
    # Each workdir is private (0700) like the one of a run in one process; the directory
    # above can be passed through, so that a test may open its workdir to another uid.
    os.chmod(rundir, 0o711)
    space = port_space()
    nblocks = (space[1] - space[0]) // PORT_BLOCK if space else 0
    block = int.from_bytes(os.urandom(4), "big") % nblocks if nblocks else 0
    running = []
    passed = failed = 0
    t_run = time.monotonic()
    try:
        while queue or running:
            while queue and len(running) < jobs:
                alone = getattr(queue[0], "exclusive", False)
                if running and (alone or getattr(running[0].fn, "exclusive", False)):
                    break
                fn = queue.pop(0)
                # Short: gdb breaks lines that name files in a long path.
                workdir = os.path.join(rundir, "%d" % fns.index(fn))
                os.mkdir(workdir, 0o700)
                env = dict(os.environ, PYTHONUNBUFFERED="1")
                if nblocks:
                    # Blocks in turn: one is used again only after every other has been.
                    lo = space[0] + block * PORT_BLOCK
                    env["RINGSIDE_IT_PORTS"] = "%d-%d" % (lo, lo + PORT_BLOCK)
                    block = (block + 1) % nblocks
                running.append(_Child(fn, command(fn.__name__, workdir), env, workdir))
                if alone:
                    break
            time.sleep(0.05)
            for c in list(running):
                if c.proc.poll() is None:
                    now = time.monotonic()
                    if c.termed is None and now - c.t0 > limit:
                        c.proc.send_signal(signal.SIGTERM)
                        c.termed = now
                    elif c.termed is not None and now - c.termed > GRACE:
                        c.kill_tree()
                    if not c.killed:
                        continue
                running.remove(c)
                if c.report(limit):
                    passed += 1
                    shutil.rmtree(c.workdir, ignore_errors=True)
                else:
                    failed += 1
                    print("  its files are kept in %s" % c.workdir)
    except BaseException:
        for c in running:
            c.kill_tree()
        raise
    print("integration: %d tests, %d at a time, in %.0f s" % (passed + failed, jobs,
                                                              time.monotonic() - t_run))
    if not failed:
        shutil.rmtree(rundir, ignore_errors=True)
    return summary(passed, failed)
