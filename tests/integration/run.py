#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Integration tests: the real ringside binary hosting real programs (gdb,
# bash), driven by real TCP clients and its own console.
#   python3 tests/integration/run.py [--bin build/ringside] [--skip-slow] [--jobs N]
#                                    [test_name ...]
import argparse
import os
import re
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (Client, Relay, Session, check, free_port, pump_all, start, test,  # noqa: E402
                     wait_listening)  # noqa: E402

GDB = ["gdb", "-q", "-nx", "-iex", "set pagination off", "-iex", "set confirm off"]
BASH = ["bash", "--norc", "--noprofile", "-i"]
IDENT = r"[^\s\\]+\\client\d+ \(tcp 127\.0\.0\.1:\d+\)"



@test
def test_gdb_shared_session(workdir):
    exe = harness.build_debuggee(workdir)
    port = free_port()
    s = start(["tcp:port=%d" % port], GDB + [exe])
    try:
        s.console_wait(r"\(gdb\) ")
        a, b, c = Client(port), Client(port), Client(port)
        for cl in (a, b, c):
            cl.wait_for(r"\(gdb\) ")
        a.send_line("break add")
        for cl in (a, b, c):
            cl.wait_for(r"Breakpoint 1 at 0x[0-9a-f]+: file .*debuggee\.c, line 2\.")
        a.send_line("run")
        for cl in (a, b, c):
            cl.wait_for(r"Breakpoint 1, add \(a=0, b=0\)", timeout=20)
        a.send_line("bt")
        for cl in (a, b, c):
            cl.wait_for(r"#0  add \(a=0, b=0\) at .*debuggee\.c:2")
            cl.wait_for(r"#1  0x[0-9a-f]+ in main \(\) at .*debuggee\.c:6")
            # Everyone, the typist included, sees who typed it.
            cl.wait_for(IDENT + r": bt\r\n")
        s.console_wait(r"#0  add \(a=0, b=0\)")
        s.console_wait(IDENT + r": bt")
        # A command from the host console carries no prefix.
        s.console_type("info breakpoints")
        for cl in (a, b, c):
            m = cl.wait_for(r"breakpoint already hit 1 time")
            check(not re.search(rb": info breakpoints", cl.data),
                  "console command shown with a prefix")
        b.send_line(".echo quiet-now")
        for cl in (a, b, c):
            cl.wait_for(r"\r\nquiet-now\r\n")
        pump_all([a, b, c], 0.5)
        tails = {bytes(cl.data[-600:]) for cl in (a, b, c)}
        check(len(tails) == 1, "clients' streams end differently")
        s.console_wait(r"quiet-now")
    finally:
        s.close()


@test
def test_runtime_server_endsrv_clients(workdir):
    p0, p1 = free_port(), free_port()
    s = start(["tcp:port=%d" % p0], BASH)
    try:
        a = Client(p0)
        a.wait_for(r"\$ |# ")
        a.send_line(".server tcp:port=%d" % p1)
        a.wait_for(r"Server started\.  Client can connect with any of these command lines\r\n"
                   r"0: ringside -remote tcp:Port=%d,Server=[^\r]+\r\n"
                   r"1: ringside -remote tcp:Port=%d,Server=[^\r]+\r\n" % (p0, p1))
        b = Client(p1)
        b.wait_for(r"connected")
        a.send_line(".servers")
        a.wait_for(r"0 - Debugger Server - tcp:Port=%d\r\n1 - Debugger Server - tcp:Port=%d\r\n"
                   % (p0, p1))
        a.send_line(".endsrv 1")
        a.wait_for(r"Server told to exit\.  Actual exit may be delayed until\r\n"
                   r"the next connection attempt\.\r\n")
        # New connections are refused; the attached client stays.
        deadline = time.monotonic() + 5
        refused = False
        while time.monotonic() < deadline and not refused:
            try:
                socket.create_connection(("127.0.0.1", p1), timeout=1).close()
                time.sleep(0.05)
            except ConnectionRefusedError:
                refused = True
        check(refused, "ended server still accepts connections")
        mark = len(b.data)
        a.send_line("echo still-$((40+2))")
        b.wait_for(r"still-42", start=mark)
        a.send_line(".servers")
        a.wait_for(r"0 - Debugger Server - tcp:Port=%d\r\n1 - <Disabled, exit pending>\r\n" % p0)
        a.send_line(".endsrv 1")
        a.wait_for(r"ringside: \.endsrv: server 1 has already ended")
        a.send_line(".endsrv 9")
        a.wait_for(r"ringside: \.endsrv: there is no server 9")
        a.send_line(".clients")
        a.wait_for(r"[^\s\\]+\\[^\s,]+, last active \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}"
                   r" \(console, read-write, \d+ bytes behind\)\r\n"
                   r"(" + IDENT + r", last active [^\r]+ \(raw, read-write, \d+ bytes behind\)\r\n){2}")
        # IDs are never reused.
        p2 = free_port()
        a.send_line(".server tcp:port=%d" % p2)
        a.wait_for(r"2: ringside -remote tcp:Port=%d" % p2)
        a.send_line(".server tcp:port=notaport")
        a.wait_for(r"ringside: \.server: tcp: port=notaport: expected")
        a.send_line(".server spipe:proto=tls1,certuser=nosuchcert,pipe=x")
        a.wait_for(r"ringside: \.server: spipe: certuser=nosuchcert: certificate \"nosuchcert\" "
                   r"not found")
        # (A device that does not exist: tests never open a real port.)
        a.send_line(".server com:port=/dev/ringside-no-such-tty,baud=115200,channel=0")
        a.wait_for(r"ringside: \.server: com: /dev/ringside-no-such-tty: no such device")
    finally:
        s.close()


@test
def test_port_range(workdir):
    base = free_port()
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        blocker.bind(("127.0.0.1", base))
        blocker.listen(1)
    except OSError:
        blocker.close()
        raise harness.TestFailure("could not occupy port %d for the test" % base)
    s = Session(["tcp:port=%d:%d" % (base, base + 5)], BASH)
    try:
        s.console_wait(r"0: ringside -remote tcp:Port=(\d+),Server=")
        got = int(re.search(rb"0: ringside -remote tcp:Port=(\d+)", s.console_out).group(1))
        check(base < got <= base + 5, "range picked port %d" % got)
        a = Client(got)
        a.send_line(".servers")
        a.wait_for(r"0 - Debugger Server - tcp:Port=%d:%d" % (got, base + 5))
    finally:
        s.close()
        blocker.close()


@test
def test_password(workdir):
    port = free_port()
    s = start(["tcp:port=%d,password=Sesame12" % port], BASH)
    try:
        watcher_port = free_port()
        s.console_type(".server tcp:port=%d" % watcher_port)
        wait_listening(watcher_port)
        watcher = Client(watcher_port)
        a = Client(port)
        a.wait_for(r"^Password: ")
        a.send_line("sesame12")  # case matters
        a.wait_for(r"Error 0x80004005: wrong password\r\nPassword: ", timeout=5)
        check(b"$ " not in a.data and b"# " not in a.data, "transcript leaked before auth")
        a.send_line("Sesame12")
        a.wait_for(IDENT + r" connected at")
        a.send_line("echo in-$((6*7))")
        a.wait_for(r"in-42")
        watcher.wait_for(r"in-42")
        check(b"Sesame12" not in watcher.data and b"sesame12" not in watcher.data,
              "a password reached the transcript")
        s.console_wait("in-42")
        check(b"Sesame12" not in s.console_out, "password on the console")
        # Three wrong answers end the connection.
        b = Client(port)
        for i in range(3):
            b.wait_for(r"Password: ", start=0 if i == 0 else len(b.data) - 10)
            b.send_line("wrong%d" % i)
            b.wait_for(r"Error 0x80004005: wrong password", timeout=5,
                       start=max(0, len(b.data) - 1))
        b.wait_eof(timeout=5)
        check(b"closing" in b.data, "no reason given when closing")
        s.pump()
        check(b"wrong password from" in s.stderr, "failures not logged")
        # A fourth wrong guess from this address: it is refused for a while.
        c = Client(port)
        c.wait_for(r"Password: ")
        c.send_line("wrong3")
        c.wait_for(r"Error 0x80004005: wrong password", timeout=5)
        d = Client(port)
        d.wait_eof()
        check(re.search(rb"ringside: connection refused: too many wrong passwords from this "
                        rb"address; try again in \d+ s", d.data), "no penalty: %r" % bytes(d.data))
        # The .servers listing masks the password.
        a.send_line(".servers")
        a.wait_for(r"0 - Debugger Server - tcp:Port=%d,Password=\*" % port)
    finally:
        s.close()


@test
def test_late_joiner_history(workdir):
    port = free_port()
    s = start(["tcp:port=%d" % port], BASH)
    try:
        a = Client(port)
        a.send_line("for i in $(seq 1 200); do echo hist-line-$i; done")
        a.wait_for(r"hist-line-200\r\n")
        late = Client(port)
        late.wait_for(r"hist-line-200\r\n")
        check(b"hist-line-1\r\n" in late.data, "late joiner missed early history")
        late.send_line("echo after-$((1+1))")
        late.wait_for(r"after-2")
    finally:
        s.close()
    # -clines N: exactly the last N lines.
    port = free_port()
    s = start(["tcp:port=%d" % port], BASH, extra=["-clines", "5"])
    try:
        a = Client(port)
        a.wait_for(r"connected")
        pump_all([a], 0.3)
        a.send_line("for i in $(seq 1 50); do echo cl-$i; done; echo END-$((2+3))")
        a.wait_for(r"END-5\r\n")
        pump_all([a], 0.3)
        late = Client(port)
        late.wait_for(r"connected")
        lines = late.data.split(b"\r\n")
        first = lines[0]
        check(first.startswith(b"cl-48"),
              "history began with %r" % first)
        check(b"cl-47\r\n" not in late.data, "more than the last lines replayed")
    finally:
        s.close()
    # Bounded by bytes: -history 4K of a much longer output.
    port = free_port()
    s = start(["tcp:port=%d" % port], BASH, extra=["-history", "4K"])
    try:
        a = Client(port)
        a.send_line("seq 1 20000; echo SEQ-$((1+1))-DONE")
        a.wait_for(r"SEQ-2-DONE")
        pump_all([a], 0.3)
        late = Client(port)
        late.wait_for(r"connected")
        check(len(late.data) < 4096 + 512, "history of %d bytes" % len(late.data))
        check(re.match(rb"^\d+\r\n", bytes(late.data)), "history does not start on a line")
    finally:
        s.close()


@test
def test_program_exit(workdir):
    port = free_port()
    s = start(["tcp:port=%d" % port], BASH)
    try:
        a, b = Client(port), Client(port)
        b.wait_for(r"connected")
        a.send_line("exit 7")
        for cl in (a, b):
            cl.wait_for(r"ringside: program bash exited with status 7\r\n")
            cl.wait_eof()
        check(s.wait_exit() == 7, "ringside exit status")
        check(b"exited with status 7" in s.console_out, "console not told")
    finally:
        s.close()
    # A crash is reported as a signal.
    port = free_port()
    s = start(["tcp:port=%d" % port], ["sh", "-c", "read x; kill -SEGV $$"])
    try:
        a = Client(port)
        a.send_line("go")
        a.wait_for(r"ringside: program sh was killed by signal 11 \(SIGSEGV\)")
        check(s.wait_exit() == 139, "status after SIGSEGV")
    finally:
        s.close()


@test
def test_sigterm_ends_session(workdir):
    port = free_port()
    s = start(["tcp:port=%d" % port], BASH)
    try:
        a = Client(port)
        a.wait_for(r"connected")
        s.proc.send_signal(15)
        a.wait_for(r"ringside: session ending \(SIGTERM\)")
        a.wait_eof()
        check(s.wait_exit() == 143, "exit status after SIGTERM")
    finally:
        s.close()


@test
def test_bad_command_lines(workdir):
    import subprocess
    cases = [
        (["-server", "tcp:port=abc", "--", "true"], r"tcp: port=abc: expected"),
        (["-server", "tcp:port=1,password=has space", "--", "true"], r"password"),
        (["-server", "com:port=/dev/ringside-no-such-tty,baud=115200,channel=0", "--", "true"],
         r"no such device \(ringside -serial-list shows the ports found\)"),
        (["-server", "spipe:proto=tls1,certuser=nosuchcert,pipe=dbg", "--", "true"],
         r"certificate \"nosuchcert\" not found"),
        (["-server", "udp:port=1", "--", "true"], r"unknown transport"),
        (["-server", "tcp:port=5005"], r"no program to host"),
        (["-bogus", "--", "true"], r"unknown option -bogus"),
        (["-server", "tcp:port=%d" % free_port(), "--", "/nonexistent/dbg"],
         r"cannot run /nonexistent/dbg: No such file"),
    ]
    for args, want in cases:
        r = subprocess.run([harness.BIN] + args, capture_output=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        check(r.returncode != 0, "%s exited 0" % args)
        check(re.search(want.encode(), r.stderr), "%s: stderr %r lacks %r" % (args, r.stderr, want))
        check(b"has space" not in r.stderr, "password echoed in an error")


@test
def test_long_line_refused(workdir):
    port = free_port()
    s = start(["tcp:port=%d" % port], BASH, extra=["-linemax", "1000"])
    try:
        a, b = Client(port), Client(port)
        b.wait_for(r"connected")
        a.send_line(b"echo " + b"x" * 3000 + b"\necho fine-$((2*4))")
        a.wait_for(r"ringside: line longer than 1000 bytes was not sent")
        a.wait_for(r"fine-8")
        b.wait_for(r"fine-8")
        check(b"x" * 1000 not in b.data, "the long line reached others")
        check(b"ringside: line longer" not in b.data, "the refusal went to everyone")
    finally:
        s.close()


@test
def test_lines_not_interleaved(workdir):
    port = free_port()
    s = start(["tcp:port=%d" % port], BASH)
    try:
        a, b = Client(port), Client(port)
        b.wait_for(r"connected")
        # a sends half a line, b a whole one, then a finishes its line.
        a.sock.send(b"echo AAA")
        time.sleep(0.2)
        b.send_line("echo BBB-$((1))")
        b.wait_for(r"BBB-1\r\n")
        a.sock.send(b"-$((2))\n")
        a.wait_for(r"AAA-2\r\n")
    finally:
        s.close()


@test
def test_limits_refuse_with_reason(workdir):
    port = free_port()
    s = Session(["tcp:port=%d" % port], BASH, extra=["-maxclients", "2"])
    try:
        s.console_wait(r"Server started")  # no probe connection: it would count
        a, b = Client(port), Client(port)
        b.wait_for(r"connected")
        c = Client(port)
        c.wait_eof()
        check(b"ringside: connection refused: the session is full (2 clients)" in c.data,
              "third client got %r" % bytes(c.data))
        s.pump()
        check(b"refused a connection: the session is full" in s.stderr, "refusal not logged")
        a.send_line("echo still-$((5+5))")
        b.wait_for(r"still-10")
    finally:
        s.close()
    # Only so many connections may sit unauthenticated at once.
    port = free_port()
    s = Session(["tcp:port=%d,password=Pw1" % port], BASH, extra=["-maxauth", "2"])
    try:
        s.console_wait(r"Server started")
        waiting = [Client(port), Client(port)]
        for w in waiting:
            w.wait_for(r"Password: ")
        third = Client(port)
        third.wait_eof()
        check(b"ringside: connection refused: 2 connections are still authenticating"
              in third.data, "third got %r" % bytes(third.data))
        waiting[0].send_line("Pw1")
        waiting[0].wait_for(r"connected")
        fourth = Client(port)
        fourth.wait_for(r"Password: ")
    finally:
        s.close()
    # The file-descriptor limit bounds -maxclients, and says so.
    import subprocess
    port = free_port()
    s = Session(["tcp:port=%d" % port], BASH, extra=["-maxclients", "100000"])
    s.console_wait(r"Server started")
    s.proc.terminate()
    s.wait_exit()
    env_limit = subprocess.run(["sh", "-c", "ulimit -Hn"], capture_output=True).stdout
    if int(env_limit or b"0") < 100064:
        check(b"exceeds the open-file limit" in s.stderr, "no word about the fd limit: %r"
              % bytes(s.stderr))


@test
def test_real_nc_and_socat(workdir):
    import subprocess
    port = free_port()
    s = start(["tcp:port=%d" % port], BASH)
    try:
        watcher = Client(port)
        # nc -N half-closes after its input; -w 2 ends it once output stops.
        r = subprocess.run(["nc", "-N", "-w", "2", "127.0.0.1", str(port)],
                           input=b"echo via-nc-$((2*21))\n", capture_output=True, timeout=20)
        check(b"via-nc-42" in r.stdout, "nc got %r" % r.stdout[-300:])
        watcher.wait_for(IDENT + r": echo via-nc")
        r = subprocess.run(["socat", "-t", "2", "-", "TCP:127.0.0.1:%d" % port],
                           input=b"echo via-socat-$((3*3))\n", capture_output=True, timeout=20)
        check(b"via-socat-9" in r.stdout, "socat got %r" % r.stdout[-300:])
        watcher.wait_for(r"via-socat-9")
        # Both stopped sending; each leaves once output has been quiet for 5 s.
        watcher.wait_for(r"disconnected at[^\0]*disconnected at", timeout=15)
        watcher.send_line(".clients")
        watcher.wait_for(r"\.clients\r\n[^\r]+, last active [^\r]+\r\n" + IDENT
                         + r", last active [^\r]+\r\n(?!" + IDENT + ")")
    finally:
        s.close()


@test
def test_client_disconnect_does_not_disturb(workdir):
    import struct
    port = free_port()
    s = start(["tcp:port=%d" % port], BASH)
    try:
        a, b = Client(port), Client(port)
        b.wait_for(r"connected")
        a.send_line("seq 1 200000 >/dev/null; for i in $(seq 1 3000); do echo tick-$i; done")
        b.wait_for(r"tick-10\r\n", timeout=20)
        # Abortive close (RST) in the middle of the output.
        b.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        b.close()
        a.wait_for(r"tick-3000\r\n", timeout=30)
        a.wait_for(IDENT + r" disconnected at", timeout=10)
        a.send_line("echo alive-$((3*3))")
        a.wait_for(r"alive-9")
        check(s.proc.poll() is None, "session ended")
    finally:
        s.close()


class SeqChecker:
    """Checks a stream carries "1\r\n2\r\n...N\r\n" exactly, at memcmp
    speed: a reader that checks line by line in Python falls behind a pty."""

    BLOCK = 50000

    def __init__(self, last):
        self.last = last
        self.next = 1          # first number not yet generated
        self.expected = b""    # generated but not yet matched
        self.started = False
        self.pending = b""
        self.done = False

    def refill(self):
        hi = min(self.next + self.BLOCK, self.last + 1)
        self.expected += ("\r\n".join(map(str, range(self.next, hi))) + "\r\n").encode()
        self.next = hi

    def feed(self, data):
        buf = self.pending + data
        if not self.started:
            at = buf.find(b"\r\n1\r\n2\r\n3\r\n")
            if at < 0:
                self.pending = buf[-64:]
                return
            buf = buf[at + 2:]
            self.started = True
        while buf and not self.done:
            if not self.expected:
                if self.next > self.last:
                    self.done = True
                    break
                self.refill()
            n = min(len(buf), len(self.expected))
            if buf[:n] != self.expected[:n]:
                i = next(k for k in range(n) if buf[k] != self.expected[k])
                raise harness.TestFailure("stream differs: got %r, expected %r"
                                          % (buf[max(0, i - 20):i + 40],
                                             self.expected[max(0, i - 20):i + 40]))
            buf = buf[n:]
            self.expected = self.expected[n:]
        self.pending = b""


@test
def test_stalled_client_gets_gap(workdir):
    """A client that never reads while 50 MB are printed: the readers get
    every line in order, the stalled one a gap marker, RSS stays bounded."""
    port = free_port()
    last = 6000000
    # Readers in Python may lag a busy pty by megabytes: a generous lag
    # budget keeps them whole, and 50 MB still overruns the 32 MiB ring.
    s = start(["tcp:port=%d" % port], BASH, noio=True, extra=["-ring", "32M", "-lag", "24M"])
    try:
        readers = [Client(port), Client(port)]
        stalled = Client(port, rcvbuf=4096)
        stalled.wait_for(r"connected")
        pump_all(readers, 0.3)
        checkers = [SeqChecker(last), SeqChecker(last)]
        # 50 MB in 60 bursts with short pauses: a Python reader on a busy
        # 2-core machine keeps up, while the stalled client still falls
        # far past the ring.
        readers[0].send_line("for i in $(seq 0 59); do seq $((i*100000+1)) $((i*100000+100000)); "
                             "sleep 0.05; done; echo SEQ-$((3+4))-DONE")
        deadline = time.monotonic() + 240
        while not all(ch.done for ch in checkers) and time.monotonic() < deadline:
            for cl, ch in zip(readers, checkers):
                if ch.done:
                    continue
                cl.pump(0.02)
                data = bytes(cl.data)
                del cl.data[:]  # memory stays flat: checked as it arrives
                check(b"[ringside:" not in data, "a reading client was skipped")
                ch.feed(data)
        check(all(ch.done for ch in checkers), "readers stopped at %s"
              % [ch.next for ch in checkers])
        rss = s.rss_kib()
        print("  stalled-client run: server peak RSS %d KiB (ring 32768 KiB)" % rss)
        check(rss < (32 + 24) * 1024, "server peak RSS %d KiB" % rss)
        # The stalled client now reads: old bytes, a gap marker, then the end.
        stalled.wait_for(r"\[ringside: \d+ bytes skipped\]", timeout=30)
        stalled.wait_for(r"SEQ-7-DONE", timeout=30)
        readers[0].send_line(".stats")
        m = readers[0].wait_for(r"ringside stats: clients=3 .*gaps=(\d+) .*copied=0 ")
        check(int(m.group(1)) >= 1, "no gap counted")
    finally:
        s.close()


@test
def test_many_clients_burst(workdir):
    n = int(os.environ.get("RINGSIDE_IT_CLIENTS", "2000"))
    harness.raise_nofile(n + 200)
    port = free_port()
    s = start(["tcp:port=%d" % port], BASH, noio=True)
    clients = []
    try:
        for i in range(n):
            clients.append(Client(port))
            if i % 200 == 199:
                pump_all(clients, 0)
        ctl = clients[0]
        ctl.send_line(".stats")
        deadline = time.monotonic() + 30
        while True:
            pump_all(clients, 0.05)
            m = re.findall(rb"ringside stats: clients=(\d+)", ctl.data)
            if m and int(m[-1]) == n:
                break
            check(time.monotonic() < deadline, "server has %s clients" % (m[-1:] or "?"))
            if m:
                mark = len(ctl.data)
                ctl.send_line(".stats")
                ctl.wait_for(r"ringside stats", start=mark)
        ctl.send_line("echo BURST-$((1+1))-BEGIN; seq 1 30000; echo BURST-$((2+2))-END")
        deadline = time.monotonic() + 120
        pending = set(range(n))
        while pending and time.monotonic() < deadline:
            socks = [clients[i] for i in pending]
            pump_all(socks, 0.2)
            pending = {i for i in pending if b"BURST-4-END" not in clients[i].data}
        check(not pending, "%d clients never got the end of the burst" % len(pending))
        bursts = set()
        for cl in clients:
            d = bytes(cl.data)
            a = d.index(b"BURST-2-BEGIN")
            bursts.add(d[a:d.index(b"BURST-4-END")])
        check(len(bursts) == 1, "%d different versions of the burst" % len(bursts))
        check(len(next(iter(bursts))) > 30000 * 5, "burst too short")
        # Joins were coalesced: far fewer notice lines than clients.
        notices = len(re.findall(rb"connected at|clients connected", clients[-1].data))
        check(notices < n / 10, "%d notice lines for %d joins" % (notices, n))
        ctl.send_line(".stats")
        m = ctl.wait_for(r"ringside stats: .*copied=(\d+) ", start=len(ctl.data) - 1)
        check(m.group(1) == b"0", "bytes copied per client")
    finally:
        for cl in clients:
            cl.close()
        s.close()


def remote(port, extra="", stdin=None, quiet_ms=None):
    """A scripted native client: `ringside -remote` with stdin a pipe."""
    import subprocess
    args = [harness.BIN, "-remote", "tcp:server=127.0.0.1,port=%d%s" % (port, extra)]
    if quiet_ms is not None:
        args += ["-quiet", str(quiet_ms)]
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


@test
def test_native_clients_share_gdb(workdir):
    exe = harness.build_debuggee(workdir)
    port = free_port()
    s = start(["tcp:port=%d" % port], GDB + [exe])
    a = b = None
    try:
        raw = Client(port)
        a, b = remote(port), remote(port)
        for p in (a, b):
            os.set_blocking(p.stdout.fileno(), False)
        out = {a: bytearray(), b: bytearray()}

        def wait_out(p, pattern, timeout=15):
            deadline = time.monotonic() + timeout
            rx = re.compile(pattern.encode())
            while time.monotonic() < deadline:
                try:
                    d = os.read(p.stdout.fileno(), 65536)
                    if d:
                        out[p] += d
                        continue
                except BlockingIOError:
                    pass
                if rx.search(out[p]):
                    return
                time.sleep(0.05)
            raise harness.TestFailure("native client never showed %r; got %r"
                                      % (pattern, bytes(out[p][-400:])))

        native_ident = r"[^\s\\]+\\[^\s\\(]+ \(tcp 127\.0\.0\.1:\d+\)"
        for p in (a, b):
            wait_out(p, r"\(gdb\) ")
        for line in ("break add", "run", "bt"):
            a.stdin.write(line.encode() + b"\n")
        a.stdin.flush()
        for p in (a, b):
            wait_out(p, r"#1  0x[0-9a-f]+ in main \(\) at .*debuggee\.c:6", timeout=30)
            wait_out(p, native_ident + r": bt")
        raw.wait_for(native_ident + r": bt")
        raw.wait_for(r"#0  add \(a=0, b=0\)")
        check(not re.search(rb"client\d+ \(tcp[^)]*\): bt", raw.data),
              "a native client's line shown with a raw client's name")
        b.stdin.write(b".clients\n")
        b.stdin.flush()
        raw.wait_for(r"\(native, read-write, \d+ bytes behind\)\r\n[^\r]*\(native, read-write")
        raw.wait_for(r"\(raw, read-write, \d+ bytes behind\)")
    finally:
        for p in (a, b):
            if p:
                p.kill()
                p.wait()
        s.close()


@test
def test_native_scripted_client(workdir):
    import subprocess
    port = free_port()
    s = start(["tcp:port=%d" % port], BASH)
    try:
        r = subprocess.run([harness.BIN, "-remote", "tcp:server=127.0.0.1,port=%d" % port],
                           input=b"echo scripted-$((6*7))\n", capture_output=True, timeout=30)
        check(r.returncode == 0, "exit %d, stderr %r" % (r.returncode, r.stderr))
        check(b"scripted-42" in r.stdout, "output %r" % r.stdout[-300:])
        # A bad spec is refused before anything connects.
        r = subprocess.run([harness.BIN, "-remote", "tcp:server=127.0.0.1,port=notaport"],
                           capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
        check(r.returncode == 2 and b"port=notaport" in r.stderr, "bad spec: %r" % r.stderr)
        r = subprocess.run([harness.BIN, "-remote", "tcp:server=127.0.0.1,port=%d" % free_port()],
                           capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
        check(r.returncode == 1 and b"cannot connect" in r.stderr, "no server: %r" % r.stderr)
    finally:
        s.close()


@test
def test_native_password(workdir):
    import subprocess
    port = free_port()
    s = start(["tcp:port=%d,password=Sesame12" % port], BASH)
    relay = Relay(port)
    try:
        via = "tcp:server=127.0.0.1,port=%d" % relay.port
        r = subprocess.run([harness.BIN, "-remote", via + ",password=Sesame12"],
                           input=b"echo authed-$((2+2))\n", capture_output=True, timeout=30)
        check(r.returncode == 0 and b"authed-4" in r.stdout,
              "right password: exit %d %r %r" % (r.returncode, r.stdout[-200:], r.stderr))
        r = subprocess.run([harness.BIN, "-remote", via + ",password=sesame12"],
                           input=b"echo nope\n", capture_output=True, timeout=30)
        check(r.returncode != 0, "wrong password accepted")
        check(b"Error 0x80004005: wrong password" in r.stderr, "stderr %r" % r.stderr)
        r = subprocess.run([harness.BIN, "-remote", via], input=b"echo nope\n",
                           capture_output=True, timeout=30)
        check(r.returncode != 0 and b"Error 0x80004005" in r.stderr,
              "no password: %d %r" % (r.returncode, r.stderr))
        time.sleep(0.3)
        wire = bytes(relay.up) + bytes(relay.down)
        check(len(relay.up) > 200, "relay saw no traffic")
        for form in (b"Sesame12", b"sesame12", "Sesame12".encode("utf-16-le")):
            check(form not in wire, "%r crossed the wire" % form)
    finally:
        relay.close()
        s.close()


class ExactlyOnce:
    """Checks "1\r\n2\r\n...N\r\n" appears once, in order, in a stream
    that also carries other lines (echoes, notices, prompts)."""

    def __init__(self, last):
        self.last = last

    def check(self, data):
        nums = [int(x) for x in re.findall(rb"(?m)^(\d+)\r?$", data)]
        expect = list(range(1, self.last + 1))
        if nums != expect:
            missing = sorted(set(expect) - set(nums))[:5]
            dups = [n for n in set(nums) if nums.count(n) > 1][:5] if len(nums) < 100000 else []
            raise harness.TestFailure("%d numbers, missing %s, repeated %s"
                                      % (len(nums), missing, dups))


@test
def test_native_resume_after_drop(workdir):
    import subprocess
    port = free_port()
    s = start(["tcp:port=%d" % port], BASH)
    relay = Relay(port, cut_after=120000)
    try:
        p = subprocess.run([harness.BIN, "-remote", "tcp:server=127.0.0.1,port=%d" % relay.port,
                            "-quiet", "3000"],
                           input=b"seq 1 30000; echo ALL-$((1+1))-DONE\n",
                           capture_output=True, timeout=60)
        check(relay.cuts == 1, "the relay never cut the connection")
        check(p.returncode == 0, "exit %d: %r" % (p.returncode, p.stderr[-300:]))
        check(b"reconnecting" in p.stderr, "no word of the reconnect: %r" % p.stderr[-300:])
        check(b"ALL-2-DONE" in p.stdout, "never saw the end: %r" % p.stdout[-200:])
        ExactlyOnce(30000).check(p.stdout)
    finally:
        relay.close()
        s.close()


@test
def test_readonly_server(workdir):
    import subprocess
    rw, ro = free_port(), free_port()
    s = start(["tcp:port=%d,password=Rw1" % rw, "tcp:port=%d,readonly" % ro], BASH)
    try:
        watcher = Client(ro)
        watcher.wait_for(r"connected")
        watcher.send_line("echo observer-$((1+1))")
        watcher.wait_for(r"ringside: this is a read-only connection; commands are not accepted")
        r = subprocess.run([harness.BIN, "-remote", "tcp:server=127.0.0.1,port=%d" % ro],
                           input=b"echo native-observer-$((3+3))\n", capture_output=True,
                           timeout=30)
        check(b"read-only" in r.stdout + r.stderr, "no read-only notice: %r %r"
              % (r.stdout[-200:], r.stderr))
        r = subprocess.run([harness.BIN, "-remote",
                            "tcp:server=127.0.0.1,port=%d,password=Rw1" % rw],
                           input=b"echo writer-$((4+4))\n.clients\n", capture_output=True,
                           timeout=30)
        check(b"writer-8" in r.stdout, "writer: %r" % r.stdout[-300:])
        check(re.search(rb"\(raw, read-only, \d+ bytes behind\)", r.stdout),
              ".clients does not mark the observer: %r" % r.stdout[-500:])
        watcher.wait_for(r"writer-8")
        check(b"observer-2" not in watcher.data and b"native-observer-6" not in watcher.data,
              "an observer's command ran")
        check(b"native-observer-6" not in r.stdout, "an observer's command ran")
    finally:
        s.close()


@test
def test_interactive_client_in_tmux(workdir):
    import shutil
    import subprocess
    if not shutil.which("tmux"):
        raise harness.TestFailure("tmux is not installed (make deps installs it)")
    port = free_port()
    s = start(["tcp:port=%d" % port], BASH)
    name = "ringside-it-%d" % os.getpid()
    tmux = ["tmux", "-L", name]

    def pane():
        return subprocess.run(tmux + ["capture-pane", "-p", "-t", name, "-S", "-200"],
                              capture_output=True, text=True).stdout

    def wait_pane(pattern, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = pane()
            if re.search(pattern, text):
                return text
            time.sleep(0.1)
        raise harness.TestFailure("pane never showed %r:\n%s" % (pattern, pane()))

    try:
        subprocess.run(tmux + ["new-session", "-d", "-s", name, "-x", "150", "-y", "40",
                               "%s -remote tcp:server=127.0.0.1,port=%d; echo CLIENT-EXIT-$?; "
                               "sleep 30" % (harness.BIN, port)], check=True)
        wait_pane(r"bash-[\d.]+#")  # capture-pane trims trailing blanks
        subprocess.run(tmux + ["send-keys", "-t", name, "echo typed-$((5+5))", "Enter"])
        wait_pane(r"\ntyped-10")
        # A notice from another client shows up while the line editor runs.
        other = Client(port)
        # (joins close together are told as one summary line)
        wait_pane(r"client\d+ \(tcp 127\.0\.0\.1:\d+\) connected at|clients connected and")
        # Ctrl+C interrupts the hosted program, not the client.
        subprocess.run(tmux + ["send-keys", "-t", name, "sleep 30; echo not-interrupted",
                               "Enter"])
        time.sleep(1)
        subprocess.run(tmux + ["send-keys", "-t", name, "C-c"])
        other.wait_for(r"\^C \(interrupt\)")
        subprocess.run(tmux + ["send-keys", "-t", name, "echo after-$((7+7))", "Enter"])
        wait_pane(r"\nafter-14", timeout=10)
        check("not-interrupted" not in pane().split("sleep 30; echo not-interrupted")[-1],
              "sleep was not interrupted")
        # Ctrl+B then Enter leaves; the session goes on.
        subprocess.run(tmux + ["send-keys", "-t", name, "C-b", "Enter"])
        wait_pane(r"CLIENT-EXIT-0")
        other.wait_for(r"\(tcp 127\.0\.0\.1:\d+\) disconnected at")
        other.send_line("echo still-$((9+9))")
        other.wait_for(r"still-18")
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
        s.close()


def load_more_tests():
    """Tests grouped by subject live in it_<subject>.py beside this file and
    register themselves with @test when imported."""
    here = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(here)):
        if name.startswith("it_") and name.endswith(".py"):
            __import__(name[:-3])


def main():
    load_more_tests()
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=harness.BIN)
    ap.add_argument("--skip-slow", action="store_true",
                    help="leave out tests that mostly wait out real timers")
    ap.add_argument("--jobs", type=int, default=1, metavar="N",
                    help="run N tests at a time, each in a process of its own (default 1: "
                         "one after another in this process)")
    ap.add_argument("--timeout", type=int, default=300, metavar="SECONDS",
                    help="with --jobs: a test running longer fails and is stopped (default 300)")
    ap.add_argument("--one", metavar="NAME", help=argparse.SUPPRESS)      # a child of --jobs
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    ap.add_argument("tests", nargs="*")
    args = ap.parse_args()
    if args.jobs < 1:
        ap.error("--jobs: expected at least 1")
    harness.BIN = os.path.abspath(args.bin)
    if args.one:
        sys.exit(0 if run_child(args.one, args.workdir, args.timeout) else 1)
    selected = set(args.tests) or None
    if args.jobs == 1:
        ok = harness.run_tests(selected, skip_slow=args.skip_slow)
    else:
        me = os.path.abspath(__file__)

        def command(name, workdir):
            return [sys.executable, me, "--bin", harness.BIN, "--timeout", str(args.timeout),
                    "--one", name, "--workdir", workdir]
        ok = harness.run_parallel(selected, args.skip_slow, args.jobs, args.timeout, command)
    sys.exit(0 if ok else 1)


def run_child(name, workdir, limit):
    """One test, as a child of --jobs: SIGTERM from the runner (the time limit) becomes a
    TestTimeout, so the test's finally: blocks stop what it started."""
    import signal
    fns = [fn for fn in harness.TESTS if fn.__name__ == name]
    if not fns:
        print("FAIL %s (0.0s): no such test" % name)
        return False
    stopping = []

    def stop(signum, frame):
        if not stopping:        # once: a second raise would cut the clean-up short
            stopping.append(signum)
            raise harness.TestTimeout("went past the %d s limit: stopped by the runner" % limit)
    signal.signal(signal.SIGTERM, stop)
    return harness.run_one(fns[0], workdir or tempfile.mkdtemp(prefix="ringside-it-"))


if __name__ == "__main__":
    main()
