# SPDX-License-Identifier: MIT
# Integration tests for com: (serial lines) over pseudo-terminal pairs made by
# `socat -d -d pty,raw,echo=0 pty,raw,echo=0`: the native client running
# commands over a channel, two channels of one line carrying a read-write and
# a read-only client at once (through a frame multiplexer at the far end, as
# one process holds a line end), a password over a line, a relay that injects
# noise (flipped, dropped and duplicated bytes) while 10,000 lines flow,
# picocom in tmux against a raw line, a device that disappears while serving,
# and bad input.  No real serial port is ever opened.
import os
import random
import re
import select
import shutil
import signal
import subprocess
import threading
import time

import harness
from harness import (BASH, Client, TestFailure, check, check_clean, exclusive, free_port, slow, test,
                     wait_listening)

PROMPT = r"bash-[\d.]+[#$] "


class PtyPair:
    """Two pseudo-terminals joined by socat: what one end writes, the other
    reads, like the two ends of a null-modem cable."""

    def __init__(self):
        if not shutil.which("socat"):
            raise TestFailure("socat is not installed (make deps installs it)")
        self.proc = subprocess.Popen(["socat", "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        paths, buf, deadline = [], b"", time.monotonic() + 10
        while len(paths) < 2 and time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stderr], [], [], 0.2)
            if r:
                chunk = os.read(self.proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
                paths = re.findall(rb"PTY is (/dev/pts/\d+)", buf)
        check(len(paths) == 2, "socat made no pty pair: %r" % buf)
        self.a, self.b = paths[0].decode(), paths[1].decode()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def open_raw(path):
    """A pty end as a test program uses it: raw, non-blocking."""
    import termios
    import tty
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    return fd


class Relay:
    """Copies bytes between two line ends (each the end of a pty pair), and
    on the way flips, drops or doubles bytes at RATE each (per byte, both
    directions), or replaces every byte (SCRAMBLE, what a wrong baud rate
    does to a line).  Counts what it did."""

    def __init__(self, left, right, rate=0.0, seed=1, scramble=False, record=False, bps=None):
        self.fds = [open_raw(left), open_raw(right)]
        # BPS: at most this many bytes a second each way, as a real line
        # at BPS * 10 baud would carry (a pty has no baud rate of its own).
        self.bps = bps
        self.budget = [0.0, 0.0]
        self.budget_at = time.monotonic()
        self.rate = rate
        self.scramble = scramble
        self.rng = random.Random(seed)
        self.flipped = self.dropped = self.doubled = 0
        self.record = record
        self.seen = [bytearray(), bytearray()]
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _noisy(self, data):
        if self.scramble:
            return bytes(self.rng.randrange(256) for _ in data)
        if not self.rate:
            return data
        out = bytearray()
        for b in data:
            x = self.rng.random()
            if x < self.rate:
                out.append(b ^ (1 << self.rng.randrange(8)))
                self.flipped += 1
            elif x < 2 * self.rate:
                self.dropped += 1
            elif x < 3 * self.rate:
                out += bytes((b, b))
                self.doubled += 1
            else:
                out.append(b)
        return bytes(out)

    def _refill(self):
        now = time.monotonic()
        for i in (0, 1):
            self.budget[i] = min(self.budget[i] + (now - self.budget_at) * self.bps,
                                 self.bps / 50.0)
        self.budget_at = now

    def _run(self):
        pending = [b"", b""]        # what waits to be written to fds[i]
        while not self.stop:
            if self.bps:
                self._refill()
            want_w = [fd for i, fd in enumerate(self.fds)
                      if pending[i] and (not self.bps or self.budget[i] >= 1)]
            try:
                r, w, _ = select.select(self.fds, want_w, [], 0.002 if self.bps else 0.1)
            except (OSError, ValueError):
                return
            for i, fd in enumerate(self.fds):
                # A paced line holds what a UART and its tty would: a
                # little, so that back-pressure reaches the writer.
                if fd in r and len(pending[1 - i]) < (4096 if self.bps else 1 << 20):
                    try:
                        d = os.read(fd, 65536)
                    except BlockingIOError:
                        d = b""
                    except OSError:
                        return
                    if self.record:
                        self.seen[i] += d
                    pending[1 - i] += self._noisy(d)
                if fd in w and pending[i]:
                    chunk = pending[i]
                    if self.bps:
                        chunk = chunk[:int(self.budget[i])]
                    try:
                        n = os.write(fd, chunk)
                    except BlockingIOError:
                        n = 0
                    except OSError:
                        return
                    if self.bps:
                        self.budget[i] -= n
                    pending[i] = pending[i][n:]

    def close(self):
        self.stop = True
        self.thread.join(2)
        for fd in self.fds:
            os.close(fd)


def frames(buf):
    """Cuts whole frames (serial/frame.h) out of BUF: returns [(channel,
    wire bytes)] and what is left.  Only the sync, the header and the length
    are read: enough to route, the checks are the receiver's."""
    out, i = [], 0
    while True:
        start = buf.find(b"\xfe\x52", i)
        if start < 0:
            return out, buf[-1:] if buf.endswith(b"\xfe") else b""
        body, j, need = bytearray(), start + 2, 6
        while j < len(buf) and len(body) < need:
            c = buf[j]
            if c == 0xFE:
                if j + 1 >= len(buf):
                    break
                if buf[j + 1] != 0x00:
                    break           # a new sync or noise: this frame is cut
                body.append(0xFE)
                j += 2
            else:
                body.append(c)
                j += 1
            if len(body) == 6:
                length = ((body[3] << 8) | body[4]) & 0x7FFF
                if length > 1024:
                    break
                need = 6 + length + 4
        if len(body) == need:
            out.append((body[0], bytes(buf[start:j])))
            i = j
            continue
        if j >= len(buf) or (j + 1 >= len(buf) and buf[j] == 0xFE):
            return out, buf[start:]     # unfinished: wait for the rest
        i = start + 2                   # damaged: look further on


class ChannelMux:
    """The far end of one line serving two clients: frames from the line go
    to the pty pair of their channel, and each pair's frames go to the line
    whole (one process holds a line end, so two `ringside -remote` need
    this, as they would need a multiplexer on a real cable)."""

    def __init__(self, line, routes):
        self.line = open_raw(line)
        self.routes = {ch: open_raw(path) for ch, path in routes.items()}
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _write(self, fd, data):
        while data and not self.stop:
            try:
                n = os.write(fd, data)
                data = data[n:]
            except BlockingIOError:
                select.select([], [fd], [], 0.1)

    def _run(self):
        rest = {fd: b"" for fd in [self.line] + list(self.routes.values())}
        back = {fd: ch for ch, fd in self.routes.items()}
        while not self.stop:
            try:
                r, _, _ = select.select(list(rest), [], [], 0.1)
            except (OSError, ValueError):
                return
            for fd in r:
                try:
                    d = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    return
                got, rest[fd] = frames(rest[fd] + d)
                for ch, wire in got:
                    if fd == self.line:
                        if ch in self.routes:
                            self._write(self.routes[ch], wire)
                    elif ch == back[fd]:
                        self._write(self.line, wire)

    def close(self):
        self.stop = True
        self.thread.join(2)
        for fd in [self.line] + list(self.routes.values()):
            os.close(fd)


def com(path, rest):
    return "com:port=%s,baud=115200,%s" % (path, rest)


def run_client(spec, stdin=b"", timeout=60, quiet_ms=500):
    """A scripted `ringside -remote` to completion: (status, stdout, stderr)."""
    args = [harness.BIN, "-remote", spec, "-quiet", str(quiet_ms)]
    try:
        r = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise TestFailure("client still running after %ss; stdout %r stderr %r"
                          % (timeout, (e.stdout or b"")[-500:], (e.stderr or b"")[-500:]))
    check_clean(r.stderr, "client")
    return r.returncode, r.stdout, r.stderr


def start_session(servers, program=BASH, extra=()):
    s = harness.Session(servers, program, extra=extra)
    s.console_wait(PROMPT)
    return s


@test
def test_com_native_client_runs_commands(workdir):
    pair = PtyPair()
    s = None
    try:
        s = start_session([com(pair.a, "channel=3")])
        s.pump()
        # The log names the line and the backend that opened it.
        check(re.search(rb"serves channel 3 of %s at 115200 baud on %s 115200 8N1 flow=none "
                        rb"\(termios\)" % (pair.a.encode(), pair.a.encode()), s.stderr),
              "no line description in the log: %r" % bytes(s.stderr))
        s.console_type(".servers")
        s.console_wait(r"0 - Debugger Server - com:Port=%s,Baud=115200,Channel=3" % pair.a)
        rc, out, err = run_client(com(pair.b, "channel=3"), b"echo hello-$((6*7))\n")
        check(rc == 0, "client exit %d: %r" % (rc, err))
        check(b"hello-42" in out, "no command output over the line: %r" % out[-500:])
        s.console_wait(r"\(com %s channel 3\): echo hello" % pair.a)
        # The channel is ready for the next client once the first has gone.
        rc, out, err = run_client(com(pair.b, "channel=3"), b"echo again-$((7*7))\n")
        check(rc == 0 and b"again-49" in out, "second client: %d %r %r" % (rc, out[-300:], err))
        s.console_wait(r"disconnected at")
        # -QR lists servers reachable on this machine: a com server is not.
        qr = subprocess.run([harness.BIN, "-QR"], capture_output=True, timeout=10)
        check(b"com:" not in qr.stdout, "-QR listed a com server: %r" % qr.stdout)
    finally:
        if s:
            s.close()
        pair.close()


@test
def test_com_native_client_debugs_with_gdb(workdir):
    if not shutil.which("gdb"):
        raise TestFailure("gdb is not installed (make deps installs it)")
    prog = harness.build_debuggee(workdir)
    pair = PtyPair()
    s = None
    try:
        s = harness.Session([com(pair.a, "channel=0")],
                            ["gdb", "-q", "-nx", "-iex", "set pagination off", "-iex",
                             "set confirm off", prog])
        s.console_wait(r"\(gdb\) ")
        script = b"break add\nrun\nbt\nprint a + b\nkill\n"
        rc, out, err = run_client(com(pair.b, "channel=0"), script, quiet_ms=2000)
        check(rc == 0, "client exit %d: %r" % (rc, err))
        check(re.search(rb"Breakpoint 1, add \(a=0, b=0\)", out),
              "no breakpoint hit: %r" % out[-800:])
        check(re.search(rb"#1 +0x[0-9a-f]+ in main \(\)", out), "no backtrace: %r" % out[-800:])
        check(re.search(rb"\$1 = 0", out), "no print: %r" % out[-800:])
    finally:
        if s:
            s.close()
        pair.close()


@test
def test_com_two_channels_read_write_and_read_only(workdir):
    line, ch1, ch2 = PtyPair(), PtyPair(), PtyPair()
    mux = s = None
    try:
        s = start_session([com(line.a, "channel=1,password=s3cret"),
                           com(line.a, "channel=2,readonly")])
        mux = ChannelMux(line.b, {1: ch1.a, 2: ch2.a})
        results = {}

        def client(name, spec, script):
            results[name] = run_client(spec, script, quiet_ms=2000)

        # Both at once: the writer's command, seen by the observer too.
        t1 = threading.Thread(target=client, args=(
            "rw", com(ch1.b, "channel=1,password=s3cret"),
            b"sleep 1; echo from-writer-$((6*7))\n"))
        t2 = threading.Thread(target=client, args=(
            "ro", com(ch2.b, "channel=2"), b"echo from-observer\n"))
        t1.start()
        t2.start()
        t1.join(90)
        t2.join(90)
        rc, out, err = results["rw"]
        check(rc == 0 and b"from-writer-42" in out, "writer: %d %r %r" % (rc, out[-400:], err))
        rc, out, err = results["ro"]
        check(rc == 0, "observer exit %d: %r" % (rc, err))
        check(b"read-only connection" in out, "observer's command not refused: %r" % out[-600:])
        check(b"from-writer-42" in out, "observer did not see the writer's output: %r"
              % out[-600:])
        check(b"from-observer\r\n" not in out.replace(b"echo from-observer", b""),
              "the observer's command ran")
        s.console_wait(r"\(com %s channel 2\) connected" % line.a)
    finally:
        if mux:
            mux.close()
        if s:
            s.close()
        for p in (line, ch1, ch2):
            p.close()


@test
def test_com_password(workdir):
    pair1, pair2 = PtyPair(), PtyPair()
    relay = s = None
    try:
        s = start_session([com(pair1.a, "channel=4,password=s3cret")])
        # A relay that records the line: the password must never cross it.
        relay = Relay(pair1.b, pair2.a, record=True)
        rc, out, err = run_client(com(pair2.b, "channel=4,password=s3cret"), b"echo pw-ok\n")
        check(rc == 0 and b"pw-ok" in out, "right password: %d %r %r" % (rc, out[-300:], err))
        rc, out, err = run_client(com(pair2.b, "channel=4,password=wrong1"), b"echo no\n")
        check(rc != 0, "a wrong password was let in")
        check(b"Error 0x80004005: wrong password" in out + err, "no refusal: %r %r" % (out, err))
        rc, out, err = run_client(com(pair2.b, "channel=4"), b"echo no\n")
        check(rc != 0, "no password was let in")
        seen = bytes(relay.seen[0] + relay.seen[1])
        check(len(seen) > 1000, "the relay saw nothing")
        check(b"s3cret" not in seen, "the password crossed the line")
    finally:
        if relay:
            relay.close()
        if s:
            s.close()
        pair1.close()
        pair2.close()


@test
def test_com_noise_every_line_once_or_a_gap(workdir):
    pair1, pair2 = PtyPair(), PtyPair()
    relay = s = None
    total = 10000
    try:
        s = start_session([com(pair1.a, "channel=7")], extra=["-clines", "1"])
        relay = Relay(pair1.b, pair2.a, rate=1.0 / 40000, seed=7)
        script = b"seq -f 'line-%%g' 1 %d; echo done-$((6*7))\n" % total
        rc, out, err = run_client(com(pair2.b, "channel=7"), script, timeout=300,
                                  quiet_ms=4000)
        check(rc == 0, "client exit %d: %r" % (rc, err[-500:]))
        check(b"done-42" in out, "the output did not finish: %r" % out[-500:])
        # Every line exactly once, or an explicit gap where lines are missing.
        seen, last, gaps = set(), 0, 0
        for raw in out.split(b"\n"):
            raw = raw.rstrip(b"\r")
            if b"bytes of output were dropped" in raw:
                gaps += 1
                continue
            m = re.fullmatch(rb"line-(\d+)", raw)
            if not m:
                continue
            n = int(m.group(1))
            check(n not in seen, "line-%d shown twice" % n)
            check(n > last, "line-%d after line-%d" % (n, last))
            check(n == last + 1 or gaps, "line-%d after line-%d with no gap shown" % (n, last))
            seen.add(n)
            last = n
        check(last == total, "the last line shown is line-%d" % last)
        # Noise really did its work: conversations were broken and resumed.
        lost = out.count(b"connection lost") + err.count(b"connection lost")
        noise = relay.flipped + relay.dropped + relay.doubled
        print("    noise: %d flipped, %d dropped, %d doubled; %d reconnections; %d gaps; "
              "%d lines" % (relay.flipped, relay.dropped, relay.doubled, lost, gaps, len(seen)))
        check(noise > 0, "the relay made no noise")
        check(lost > 0, "noise never broke a conversation")
    finally:
        if relay:
            relay.close()
        if s:
            s.close()
        pair1.close()
        pair2.close()


class Tmux:
    def __init__(self, name, command):
        if not shutil.which("tmux"):
            raise TestFailure("tmux is not installed (make deps installs it)")
        self.name = name
        self.base = ["tmux", "-L", name]
        subprocess.run(self.base + ["kill-server"], capture_output=True)
        subprocess.run(self.base + ["new-session", "-d", "-s", name, "-x", "160", "-y", "40",
                                    command], check=True)

    def keys(self, *keys):
        subprocess.run(self.base + ["send-keys", "-t", self.name, "--"] + list(keys), check=True)

    def type(self, text):
        subprocess.run(self.base + ["send-keys", "-t", self.name, "-l", "--", text], check=True)

    def screen(self):
        return subprocess.run(self.base + ["capture-pane", "-p", "-J", "-t", self.name, "-S",
                                           "-3000"], capture_output=True, text=True).stdout

    def wait(self, pattern, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.screen()):
                return
            time.sleep(0.05)
        raise TestFailure("pane never showed %r:\n%s" % (pattern, self.screen()[-3000:]))

    def close(self):
        subprocess.run(self.base + ["kill-server"], capture_output=True)


@test
def test_com_raw_line_picocom_in_tmux(workdir):
    if not shutil.which("picocom"):
        raise TestFailure("picocom is not installed (make deps installs it)")
    pair = PtyPair()
    s = t = None
    try:
        s = start_session([com(pair.a, "raw,password=s3cret")])
        s.console_type(".servers")
        s.console_wait(r"0 - Debugger Server - com:Port=%s,Baud=115200,Raw,Password=\*"
                       % pair.a)
        t = Tmux("ringside-it-picocom-%d" % os.getpid(), "picocom -q -b 115200 %s" % pair.b)
        time.sleep(0.5)
        # The prompt went out before anyone looked: Enter asks again.
        t.keys("Enter")
        t.wait(r"Password: $|Password: \n")
        t.type("wrong")
        t.keys("Enter")
        t.wait(r"Error 0x80004005: wrong password")
        t.type("s3cret")
        t.keys("Enter")
        t.wait(PROMPT)
        t.type("echo raw-line-$((6*7))")
        t.keys("Enter")
        t.wait(r"\nraw-line-42")
        s.console_wait(r"\(com %s\): echo raw-line" % pair.a)
        # Ctrl+A Ctrl+X leaves picocom; the line and its server stay.
        t.keys("C-a", "C-x")
        time.sleep(0.5)
        s.console_type("echo still-here")
        s.console_wait(r"\r\nstill-here")
    finally:
        if t:
            t.close()
        if s:
            s.close()
        pair.close()


@test
def test_com_device_disappears_while_serving(workdir):
    pair, other = PtyPair(), PtyPair()
    s = None
    port = free_port()
    client = None
    try:
        s = start_session([com(pair.a, "channel=3"), com(other.a, "channel=3"),
                           "tcp:port=%d" % port])
        wait_listening(port)
        c = subprocess.Popen([harness.BIN, "-remote", com(pair.b, "channel=3")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        client = c
        s.console_wait(r"\(com %s channel 3\) connected" % pair.a, timeout=20)
        pair.close()            # the cable is pulled: both ends hang up
        s.console_wait(r"ringside: server 0 \(com:Port=%s,Baud=115200,Channel=3\) has ended: "
                       r"%s hung up: the device was unplugged or the other end closed"
                       % (pair.a, pair.a))
        out, err = c.communicate(timeout=20)
        check_clean(err, "client")
        check(c.returncode == 1, "client exit %r" % c.returncode)
        check(b"hung up" in err or b"hung up" in out, "client did not say why: %r %r"
              % (out[-300:], err[-300:]))
        # The session and the other servers go on.
        s.console_type(".servers")
        s.console_wait(r"0 - <Disabled, exit pending>\r\n1 - Debugger Server - "
                       r"com:Port=%s,Baud=115200,Channel=3\r\n2 - Debugger Server - tcp:Port=%d"
                       % (other.a, port))
        tc = Client(port)
        tc.send_line("echo tcp-still-$((6*7))")
        tc.wait_for(r"tcp-still-42")
        tc.close()
        rc, out, err = run_client(com(other.b, "channel=3"), b"echo other-line-ok\n")
        check(rc == 0 and b"other-line-ok" in out, "the other line: %d %r" % (rc, err))
    finally:
        if client and client.poll() is None:
            client.kill()
            client.wait()
        if s:
            s.close()
        pair.close()
        other.close()


@test
def test_com_bad_input(workdir):
    pair = PtyPair()
    s = None

    def refused(args, want):
        r = subprocess.run([harness.BIN] + args, capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        check_clean(r.stderr, "ringside")
        check(r.returncode != 0, "%s exited 0" % args)
        check(re.search(want.encode(), r.stderr), "%s: stderr %r lacks %r" % (args, r.stderr, want))

    try:
        refused(["-server", "com:port=%s,baud=12345,channel=1" % pair.a, "--", "true"],
                r"com: baud=12345: unsupported baud rate 12345 \(expected one of 50, 75, ")
        refused(["-server", com(pair.a, "channel=255"), "--", "true"],
                r"com: channel=255: expected a channel number 0-254")
        refused(["-server", com("/dev/ringside-no-such-tty", "channel=1"), "--", "true"],
                r"com: /dev/ringside-no-such-tty: no such device \(ringside -serial-list "
                r"shows the ports found\)")
        refused(["-server", com("/dev/null", "channel=1"), "--", "true"],
                r"/dev/null.*not a serial port or terminal")
        refused(["-server", com(pair.a, "channel=1"), "-server", com(pair.a, "channel=1"),
                 "--", "true"], r"com: channel 1 is already in use on %s" % pair.a)
        refused(["-server", com(pair.a, "channel=1"), "-server", com(pair.a, "raw"), "--", "true"],
                r"a raw line carries one server only")
        refused(["-remote", com(pair.b, "channel=1,raw")],
                r"\"raw\" is only valid with -server/.server")
        # Busy: another process has the line.
        s = start_session([com(pair.a, "channel=1")])
        refused(["-server", com(pair.a, "channel=2"), "--", "true"],
                r"%s is busy: locked by ringside \(pid %d" % (pair.a, s.proc.pid))
        s.console_type(".server " + com(pair.a, "channel=1"))
        s.console_wait(r"ringside: \.server: com: channel 1 is already in use on %s" % pair.a)
        # Nobody on that channel: the far end says so at once.
        t0 = time.monotonic()
        rc, out, err = run_client(com(pair.b, "channel=9"), b"")
        check(rc == 1, "exit %d" % rc)
        check(re.search(rb"no ringside server on channel 9 of %s at 115200 baud \(the far end "
                        rb"answered" % pair.b.encode(), err), "stderr %r" % err)
        check(time.monotonic() - t0 < 5, "took %.1fs" % (time.monotonic() - t0))
        print("    refused in %.2fs: %s" % (time.monotonic() - t0, err.decode().strip()))
        s.close()
        s = None
    finally:
        if s:
            s.close()
        pair.close()


@test
def test_com_nothing_answers(workdir):
    # Nothing at all on the far end, then a line whose every byte is garbled
    # (a wrong baud rate: a pty has none, so a relay scrambles the bytes):
    # a bounded wait and a clear message, never a hang.
    pair1, pair2 = PtyPair(), PtyPair()
    relay = s = None
    try:
        t0 = time.monotonic()
        rc, out, err = run_client(com(pair1.b, "channel=3"), b"", timeout=40)
        took = time.monotonic() - t0
        check(rc == 1, "exit %d" % rc)
        want = rb"no ringside server answered on channel 3 of %s at 115200 baud within 10 " \
               rb"seconds" % pair1.b.encode()
        check(re.search(want, err), "stderr %r" % err)
        check(9 < took < 20, "took %.1fs" % took)
        s = start_session([com(pair1.a, "channel=3")])
        relay = Relay(pair1.b, pair2.a, scramble=True)
        rc, out, err = run_client(com(pair2.b, "channel=3"), b"", timeout=40)
        check(rc == 1 and re.search(rb"no ringside server answered on channel 3", err),
              "garbled line: %d %r" % (rc, err))
        s.console_type("echo session-fine")
        s.console_wait(r"\r\nsession-fine")
    finally:
        if relay:
            relay.close()
        if s:
            s.close()
        pair1.close()
        pair2.close()


@test
def test_com_runtime_server_and_endsrv(workdir):
    pair = PtyPair()
    port = free_port()
    s = c = None
    try:
        s = start_session(["tcp:port=%d" % port])
        s.console_type(".server " + com(pair.a, "channel=5"))
        s.console_wait(r"1: ringside -remote com:Port=%s,Baud=115200,Channel=5" % pair.a)
        c = subprocess.Popen([harness.BIN, "-remote", com(pair.b, "channel=5")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        s.console_wait(r"\(com %s channel 5\) connected" % pair.a, timeout=20)
        # .endsrv: no new connections, the one connected stays.
        s.console_type(".endsrv 1")
        s.console_wait(r"Server told to exit")
        c.stdin.write(b"echo after-endsrv-$((6*7))\n")
        c.stdin.flush()
        s.console_wait(r"\r\nafter-endsrv-42")
        out, err = c.communicate(timeout=20)
        check_clean(err, "client")
        check(b"after-endsrv-42" in out, "the client lost its server: %r" % out[-300:])
        c = None
        s.console_wait(r"\(com %s channel 5\) disconnected" % pair.a)
        # Its client gone, so is the channel: the far end is told nobody
        # serves it, and it can be served again.
        # (No com server uses the line any more: it is closed, nobody
        # answers on it.)
        rc, out, err = run_client(com(pair.b, "channel=5"), b"")
        check(rc == 1 and b"no ringside server answered on channel 5" in err,
              "%d %r" % (rc, err))
        s.console_type(".server " + com(pair.a, "channel=5"))
        s.console_wait(r"2: ringside -remote com:Port=%s,Baud=115200,Channel=5" % pair.a)
        rc, out, err = run_client(com(pair.b, "channel=5"), b"echo served-again\n")
        check(rc == 0 and b"served-again" in out, "%d %r %r" % (rc, out[-300:], err))
    finally:
        if c:
            c.kill()
            c.wait()
        if s:
            s.close()
        pair.close()


@test
def test_com_slow_line_is_skipped_ahead(workdir):
    # A line at 115200 baud (paced) is a slow client: a burst of output
    # skips it ahead with a gap shown; a TCP client next to it is not held
    # up, and memory stays within the ring.
    p1, p2 = PtyPair(), PtyPair()
    port = free_port()
    relay = s = None
    try:
        s = start_session([com(p1.a, "channel=2"), "tcp:port=%d" % port],
                          extra=["-ring", "1M", "-lag", "256K"])
        wait_listening(port)
        relay = Relay(p1.b, p2.a, bps=11520)
        fast = Client(port)
        c = subprocess.Popen([harness.BIN, "-remote", com(p2.b, "channel=2")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        joined = read_until(c, rb"bash-[\d.]+[#$] ", 30)
        check(joined, "the slow client never joined")
        t0 = time.monotonic()
        fast.send_line("seq -f 'burst-%g' 1 300000; echo burst-end-$((6*7))")
        fast.wait_for(r"burst-end-42\r\n", timeout=60)
        fast_took = time.monotonic() - t0
        # It falls behind, is let go, resumes: the burst's end after a gap.
        caught_up = read_until(c, rb"burst-end-42\r\n", 120)
        check(caught_up, "the slow client never caught up")
        c.stdin.write(b"echo slow-end-$((7*7))\n")
        c.stdin.flush()
        out, err = c.communicate(timeout=120)
        out = joined + caught_up + out
        check_clean(err, "client")
        check(b"slow-end-49" in out, "the slow client's command: %r" % out[-300:])
        check(re.search(rb"\[ringside: \d+ bytes of output were dropped before you could see "
                        rb"them\]", err), "no gap shown to the slow client: %r" % err[-600:])
        rss = s.rss_kib()
        print("    fast client: 2.6 MB in %.1f s; slow line's gap shown; peak RSS %d KiB"
              % (fast_took, rss))
        check(fast_took < 30, "the TCP client waited for the line: %.1f s" % fast_took)
        check(rss < 64 * 1024, "peak RSS %d KiB" % rss)
        fast.close()
    finally:
        if relay:
            relay.close()
        if s:
            s.close()
        p1.close()
        p2.close()


def read_until(proc, pattern, timeout):
    """What PROC has written to stdout once PATTERN is in it (b"" if it never
    is within TIMEOUT); its stdout stays readable afterwards."""
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    got, deadline = bytearray(), time.monotonic() + timeout
    while not re.search(pattern, got) and time.monotonic() < deadline:
        select.select([fd], [], [], 0.1)
        try:
            got += os.read(fd, 65536) or b""
        except BlockingIOError:
            pass
    os.set_blocking(fd, True)
    return bytes(got) if re.search(pattern, got) else b""


def cpu_ms(pid):
    """User + system CPU of PID so far, in milliseconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def transfer(spec, nbytes, timeout):
    """A native client over SPEC runs a command printing NBYTES of text and
    reads it all: (seconds from the command to the last byte, the client)."""
    c = subprocess.Popen([harness.BIN, "-remote", spec], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.set_blocking(c.stdout.fileno(), False)
    got = bytearray()
    deadline = time.monotonic() + 20
    while b"connected at" not in got and time.monotonic() < deadline:
        select.select([c.stdout], [], [], 0.1)
        try:
            got += os.read(c.stdout.fileno(), 65536) or b""
        except BlockingIOError:
            pass
    check(b"connected at" in got, "the client never joined: %r" % bytes(got[-300:]))
    got.clear()
    t0 = time.monotonic()
    c.stdin.write(b"head -c %d /dev/zero | tr '\\0' x | fold -w 79; echo; echo END-$((6*7))\n"
                  % nbytes)
    c.stdin.flush()
    deadline = t0 + timeout
    while b"END-42" not in got and time.monotonic() < deadline:
        select.select([c.stdout], [], [], 0.1)
        try:
            got += os.read(c.stdout.fileno(), 1 << 20) or b""
        except BlockingIOError:
            pass
    took = time.monotonic() - t0
    check(b"END-42" in got, "the transfer did not finish in %ds" % timeout)
    check(got.count(b"x") >= nbytes, "only %d of %d bytes arrived" % (got.count(b"x"), nbytes))
    return took, c


@test
@slow
@exclusive
def test_com_throughput_and_idle_cpu(workdir):
    """Measured, printed, not judged, except that an idle line must cost next
    to nothing: 115200 baud paced by a relay (11,520 bytes a second each
    way, as a real line carries at 8N1), then the pty pair at full speed with
    the line set to 115200 and to 4000000 baud (a pty ignores the rate; it
    only sets the frame size), then both ends idle for 10 s."""
    results = []
    for label, baud, bps, nbytes in (("115200 baud, paced", 115200, 11520, 120000),
                                     ("115200 baud, pty speed", 115200, None, 20 << 20),
                                     ("4000000 baud, pty speed", 4000000, None, 20 << 20)):
        p1, p2 = PtyPair(), PtyPair()
        relay = s = c = None
        try:
            s = start_session(["com:port=%s,baud=%d,channel=1" % (p1.a, baud)],
                              extra=["-ring", "64M"])
            if bps:
                relay = Relay(p1.b, p2.a, bps=bps)
                far = p2.b
            else:
                far = p1.b
            took, c = transfer("com:port=%s,baud=%d,channel=1" % (far, baud), nbytes, 300)
            results.append("%s: %.0f KB in %.1f s = %.1f KB/s of output"
                           % (label, nbytes / 1000.0, took, nbytes / 1000.0 / took))
            if bps is None and baud == 115200:
                # Both ends idle: the pollers wait in the kernel.
                time.sleep(1)
                s0, c0 = cpu_ms(s.proc.pid), cpu_ms(c.pid)
                time.sleep(10)
                ds, dc = cpu_ms(s.proc.pid) - s0, cpu_ms(c.pid) - c0
                results.append("idle for 10 s: server %.0f ms CPU, client %.0f ms CPU"
                               % (ds, dc))
                check(ds < 100 and dc < 100, "an idle line costs CPU: server %.0f ms, "
                      "client %.0f ms in 10 s" % (ds, dc))
        finally:
            if c:
                c.kill()
                c.wait()
            if relay:
                relay.close()
            if s:
                s.close()
            p1.close()
            p2.close()
    for line in results:
        print("    " + line)
