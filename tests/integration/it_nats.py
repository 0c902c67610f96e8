# SPDX-License-Identifier: MIT
# Sessions through NATS JetStream (README "Beyond one machine"): an origin publishing its
# transcript (-publish), edges serving it (-edge) to raw and native clients, lines typed at an
# edge reaching the program with the typist's name, and exact resume when an edge's NATS
# connection or the NATS server itself goes away mid-output.  Each test starts its own
# `nats-server -js` on loopback with a store in the test's directory.
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import harness
from harness import (BASH, Client, Relay, TestFailure, check, exclusive, free_port, slow, start,
                     test, wait_listening)

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
GDB = ["gdb", "-q", "-nx", "-iex", "set pagination off", "-iex", "set confirm off"]
IDENT = rb"[^\s\\]+\\client\d+ \(tcp 127\.0\.0\.1:\d+\)"
JOINS = re.compile(rb"^[^\s\\]+\\\S+ \(tcp 127\.0\.0\.1:\d+\)( via edge \S+)? (dis)?connected at |"
                   rb"^ringside: \d+ clients connected and \d+ disconnected at edge ")


class NatsServer:
    """nats-server -js on loopback, its store kept across restarts."""

    def __init__(self, workdir, port=None, extra=()):
        self.port = port or free_port()
        self.extra = list(extra)
        self.store = tempfile.mkdtemp(prefix="js-", dir=workdir)
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", self.store]
            + self.extra,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.port)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def url(self, port=None):
        return "nats://127.0.0.1:%d" % (port or self.port)

    def close(self):
        self.stop()


class Edge(harness.LoggedProcess):
    """ringside -edge, its stderr kept."""

    WHO = "the edge"
    WAIT = 15

    def __init__(self, nats_spec, servers, extra=()):
        args = [harness.BIN, "-edge", nats_spec]
        for spec in servers:
            args += ["-server", spec]
        args += list(extra)
        super().__init__(args)


class Native:
    """The ringside client (native protocol) with its output in a file; stdin stays open
    until finish()."""

    def __init__(self, port, workdir):
        fd, self.path = tempfile.mkstemp(prefix="native-", dir=workdir)
        self.out = os.fdopen(fd, "wb")
        self.proc = subprocess.Popen(
            [harness.BIN, "-remote", "tcp:server=127.0.0.1,port=%d" % port, "-quiet", "500"],
            stdin=subprocess.PIPE, stdout=self.out, stderr=subprocess.DEVNULL)

    def data(self):
        with open(self.path, "rb") as f:
            return f.read()

    def wait_for(self, pattern, timeout=15):
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if rx.search(self.data()):
                return
            time.sleep(0.05)
        raise TestFailure("native client never showed %r; last bytes %r"
                          % (pattern, self.data()[-300:]))

    def finish(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        return self.data()


def stop_all(*procs):
    """Stop everything; a test that failed says what the edges logged."""
    import sys
    if sys.exc_info()[0] is not None:
        for p in procs:
            if isinstance(p, Edge):
                p.pump()
                print("edge log: %r" % bytes(p.stderr[-1500:]))
    err = None
    for p in procs:
        if p is None:
            continue
        try:
            p.close()
        except TestFailure as e:
            err = err or e
    if err:
        raise err


def session_name():
    return "it%d%d" % (os.getpid(), int(time.monotonic() * 1000) % 100000)


def origin(nats, name, program, port, extra=()):
    return start(["tcp:port=%d" % port], program, noio=True,
                 extra=["-publish", "%s,session=%s" % (nats.url(), name)] + list(extra))


def seq_lines(data, count):
    """The lines of a `seq 1 COUNT` in DATA (a client's stream): they must all be there,
    exactly once, in order, with no skip marker or gap record between them."""
    data = bytes(data)
    start = data.find(b"\r\n1\r\n")
    check(start >= 0, "no seq output: %r" % data[-300:])
    end = data.find(b"\r\n%d\r\n" % count, start)
    check(end >= 0, "seq output ends before %d: %r" % (count, data[-300:]))
    body = data[start + 2:end + 2 + len(b"%d" % count)]
    check(b"skipped" not in body, "a gap inside the output: %r" % body[:200])
    # Joins and leaves at the origin are told in its transcript, between lines.
    # (A notice starts a line of its own: one that comes after a "\r" of the output and
    # before its "\n" leaves an empty line.)
    lines = [x.rstrip(b"\r") for x in body.split(b"\n")]
    lines = [x for x in lines if x and not JOINS.match(x)]
    check(not [x for x in lines if b"ringside" in x], "a notice inside the output")
    want = [b"%d" % i for i in range(1, count + 1)]
    if lines != want:
        for i, (a, b) in enumerate(zip(lines, want)):
            if a != b:
                raise TestFailure("line %d is %r, expected %r (%d lines): %r" % (
                    i, a, b, len(lines), b"\r\n".join(lines[max(0, i - 3):i + 6])))
        raise TestFailure("%d lines, expected %d" % (len(lines), count))
    return body


def wait_count(client, count, timeout):
    client.wait_for(r"\r\n%d\r\n" % count, timeout=timeout)


@test
def test_nats_edges_serve_identical_output(workdir):
    """An origin hosting gdb, two edges; raw and native clients on each see the same bytes,
    a line typed at an edge reaches gdb with its typist's name and edge, and .clients at
    the origin lists the edge's clients."""
    exe = harness.build_debuggee(workdir)
    nats = NatsServer(workdir)
    name = session_name()
    op, e1p, e2p = free_port(), free_port(), free_port()
    o = e1 = e2 = None
    try:
        o = origin(nats, name, GDB + [exe], op)
        e1 = Edge("%s,session=%s,name=east" % (nats.url(), name), ["tcp:port=%d" % e1p])
        e2 = Edge("%s,session=%s,name=west" % (nats.url(), name), ["tcp:port=%d" % e2p])
        for e, p in ((e1, e1p), (e2, e2p)):
            e.wait_log(r"serving session %s" % name)
            wait_listening(p)
        oc = Client(op)
        r1, r2 = Client(e1p), Client(e2p)
        n1, n2 = Native(e1p, workdir), Native(e2p, workdir)
        for c in (oc, r1, r2, n1, n2):
            c.wait_for(r"\(gdb\) ")
        # Typed at edge east: gdb runs it, and everyone sees who typed it, from where.
        r1.send_line("print 6*7")
        who = IDENT + rb" via edge east: print 6\*7"
        for c in (oc, r1, r2, n1, n2):
            c.wait_for(who)
            c.wait_for(r"\$1 = 42")
        o.pump()
        oc.send_line("info line add")
        for c in (oc, r1, r2, n1, n2):
            c.wait_for(r"Line 2 of .*debuggee\.c")
        # .clients at the origin: its own client, and east's (its list comes within a
        # second or so of a change).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            mark = len(oc.data)
            oc.send_line(".clients")
            oc.wait_for(r"\.clients\r\n", start=mark)
            time.sleep(0.5)
            oc.pump(0.2)
            listed = bytes(oc.data[mark:])
            if re.search(IDENT + rb" via edge east \(edge client, raw, read-write\)", listed) and \
               re.search(rb"[^\s\\]+\\\S+ \(tcp 127\.0\.0\.1:\d+\) via edge west \(edge client, "
                         rb"native, read-write\)", listed):
                break
        else:
            raise TestFailure(".clients never listed the edges' clients: %r" % listed)
        # .stats counts the four edge clients apart from the origin's own one.
        deadline = time.monotonic() + 10
        while True:
            mark = len(oc.data)
            oc.send_line(".stats")
            m = oc.wait_for(rb"ringside stats: clients=(\d+) [^\r]* edge_clients=(\d+)\r\n", start=mark)
            if m.group(2) == b"4" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        check(m.group(1) == b"1" and m.group(2) == b"4", ".stats: %r" % m.group(0))
        # The same bytes everywhere from the first prompt on: raw at the origin and on
        # both edges, and the native clients' text.
        r1.send_line("echo done-marker\\n")
        for c in (oc, r1, r2):
            c.wait_for(r"done-marker\r\n\(gdb\) ")
        raw = []
        for c in (oc, r1, r2):
            d = bytes(c.data)
            d = d[d.find(b"(gdb) "):d.rfind(b"done-marker")]
            raw.append(d)
        check(raw[1] == raw[2], "the two edges' raw clients differ:\n%r\n%r" % (raw[1], raw[2]))
        check(raw[0].endswith(raw[1][-400:]), "the origin's raw client differs from the edges'")
        n1.wait_for(r"done-marker")
        n2.wait_for(r"done-marker")
        t1, t2 = n1.finish(), n2.finish()
        for t in (t1, t2):
            check(b"$1 = 42" in t and b"via edge east: print 6*7" in t,
                  "a native client missed output: %r" % t[-300:])
        body1 = t1[t1.find(b"$1 = 42"):t1.rfind(b"done-marker")]
        body2 = t2[t2.find(b"$1 = 42"):t2.rfind(b"done-marker")]
        check(body1 == body2, "the two edges' native clients differ")
        # Joins at the edges were told at the origin, and so everywhere.
        for c in (oc, r1, r2):
            c.wait_for(IDENT + rb" via edge east connected at ")
            c.wait_for(IDENT + rb" via edge west connected at ")
        # Meta-commands at an edge are the edge's own and go to the asker alone.
        r2.send_line(".servers")
        r2.wait_for(r"This edge is fed from nats://127\.0\.0\.1:%d session %s as edge west"
                    % (nats.port, name))
        time.sleep(0.5)
        for c in (oc, r1):
            c.pump(0.1)
            check(b"fed from" not in bytes(c.data), "an edge's .servers reached others")
    finally:
        stop_all(e1, e2, o, nats)


@test
def test_nats_edge_connection_cut_loses_nothing(workdir):
    """An edge reaches NATS through a relay that is cut twice during a `seq 1 200000`: its
    raw and native clients get every line exactly once."""
    nats = NatsServer(workdir)
    relay = Relay(nats.port)
    name = session_name()
    op, ep = free_port(), free_port()
    o = e = None
    try:
        o = origin(nats, name, BASH, op)
        e = Edge("%s,session=%s" % (nats.url(relay.port), name), ["tcp:port=%d" % ep])
        e.wait_log(r"serving session %s" % name)
        wait_listening(ep)
        oc, rc = Client(op), Client(ep)
        nc = Native(ep, workdir)
        for c in (oc, rc):
            c.wait_for(r"\$ |# ")
        # Joins are told in the transcript, a moment later: not in the middle of the lines.
        time.sleep(0.5)
        oc.send_line("seq 1 200000")
        # Cut once the edge's client has some of it, and again later.
        for at in (b"\r\n20000\r\n", b"\r\n120000\r\n"):
            deadline = time.monotonic() + 30
            while at not in rc.data and time.monotonic() < deadline:
                rc.pump(0.05)
            check(at in rc.data, "the edge's client never got %r" % at)
            relay.cut()
        wait_count(rc, 200000, 60)
        nc.wait_for(r"\n200000\r?\n", timeout=60)
        # The cut came while the edge still had records to fetch.
        e.wait_log(r"NATS connection lost; resuming after stream sequence \d+")
        seqs = [int(x) for x in re.findall(rb"resuming after stream sequence (\d+)", e.stderr)]
        check(min(seqs) > 0, "the edge lost its connection before it had anything")
        seq_lines(rc.data, 200000)
        t = nc.finish()
        seq_lines(t.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), 200000)
        wait_count(oc, 200000, 30)
        seq_lines(oc.data, 200000)
    finally:
        stop_all(e, o, relay, nats)


@test
def test_nats_server_restart_loses_nothing(workdir):
    """nats-server is killed mid-output and started again on the same store: the origin
    publishes on from where the stream ends and the edge's clients get every line once."""
    nats = NatsServer(workdir)
    name = session_name()
    op, ep = free_port(), free_port()
    o = e = None
    try:
        o = origin(nats, name, BASH, op)
        e = Edge("%s,session=%s" % (nats.url(), name), ["tcp:port=%d" % ep])
        e.wait_log(r"serving session %s" % name)
        wait_listening(ep)
        oc, rc = Client(op), Client(ep)
        for c in (oc, rc):
            c.wait_for(r"\$ |# ")
        # Joins are told in the transcript, a moment later: not in the middle of the lines.
        time.sleep(0.5)
        oc.send_line("seq 1 200000")
        deadline = time.monotonic() + 30
        while b"\r\n30000\r\n" not in rc.data and time.monotonic() < deadline:
            rc.pump(0.05)
        check(b"\r\n30000\r\n" in rc.data, "the edge's client never got line 30000")
        nats.stop(signal.SIGKILL)
        # The origin and its own clients carry on while NATS is away.
        wait_count(oc, 200000, 30)
        check(b"\r\n200000\r\n" not in rc.data, "the edge had everything before NATS went")
        time.sleep(1)
        nats.start()
        wait_count(rc, 200000, 60)
        seq_lines(rc.data, 200000)
        seq_lines(oc.data, 200000)
    finally:
        stop_all(e, o, nats)


def nats_publish_raw(port, subject, headers, payload):
    """Publish one message with headers straight over the NATS client protocol."""
    hdr = b"NATS/1.0\r\n" + b"".join(b"%s: %s\r\n" % (k.encode(), v.encode())
                                     for k, v in headers) + b"\r\n"
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        f = s.makefile("rb")
        check(f.readline().startswith(b"INFO "), "not a NATS server")
        s.sendall(b'CONNECT {"verbose":false,"headers":true,"protocol":1}\r\n')
        s.sendall(b"HPUB %s %d %d\r\n%s%s\r\n" % (subject.encode(), len(hdr),
                                                   len(hdr) + len(payload), hdr, payload))
        s.sendall(b"PING\r\n")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            line = f.readline()
            check(not line.startswith(b"-ERR"), "NATS refused the message: %r" % line)
            if line.startswith(b"PONG"):
                return
        raise TestFailure("no PONG from NATS")
    finally:
        s.close()


@test
def test_nats_readonly_edge_and_lying_input(workdir):
    """A read-only edge server's clients cannot type; an input message that says it comes
    from a read-only client is refused at the origin, while the same message read-write
    goes through (the control that shows the refusal is the origin's doing)."""
    nats = NatsServer(workdir)
    name = session_name()
    op, ep = free_port(), free_port()
    o = e = None
    try:
        o = origin(nats, name, BASH, op)
        e = Edge("%s,session=%s,name=ro" % (nats.url(), name), ["tcp:port=%d,readonly" % ep])
        e.wait_log(r"serving session %s \(([0-9a-f]{32})\)" % name)
        sid = re.search(rb"serving session \S+ \(([0-9a-f]{32})\)", e.stderr).group(1).decode()
        wait_listening(ep)
        oc, rc = Client(op), Client(ep)
        for c in (oc, rc):
            c.wait_for(r"\$ |# ")
        rc.send_line("echo from-readonly-$((6*7))")
        rc.wait_for(r"read-only")
        oc.send_line("echo origin-$((2*3))")
        rc.wait_for(r"origin-6")
        check(b"from-readonly-42" not in oc.data, "a read-only edge client's line ran")

        def lie(role, text):
            nats_publish_raw(nats.port, "ringside.%s.in" % name, [
                ("Ringside-Session", sid), ("Ringside-Kind", "line"),
                ("Ringside-Who", "mallory (tcp 10.0.0.1:1)"), ("Ringside-Edge", "fake"),
                ("Ringside-Role", role)], text.encode())

        lie("read-only", "echo lied-$((5*5))")
        o.pump()
        deadline = time.monotonic() + 10
        while b"input from read-only mallory" not in o.stderr and time.monotonic() < deadline:
            time.sleep(0.1)
            o.pump()
        check(b"input from read-only mallory (tcp 10.0.0.1:1) via edge fake refused" in o.stderr,
              "the origin did not log the refusal: %r" % bytes(o.stderr[-300:]))
        lie("read-write", "echo honest-$((4*4))")
        oc.wait_for(r"mallory \(tcp 10\.0\.0\.1:1\) via edge fake: echo honest")
        oc.wait_for(r"\r\nhonest-16\r\n")
        check(b"lied-25" not in oc.data, "a read-only input message ran at the origin")
    finally:
        stop_all(e, o, nats)


@test
def test_nats_origin_end_ends_edges(workdir):
    """The hosted program's exit ends the session at the origin and at every edge, whose
    clients see the exit line and whose exit status is the program's."""
    nats = NatsServer(workdir)
    name = session_name()
    op, ep = free_port(), free_port()
    o = e = None
    try:
        o = origin(nats, name, ["sh", "-c", "read x; echo got-$x; exit 7"], op)
        e = Edge("%s,session=%s" % (nats.url(), name), ["tcp:port=%d" % ep])
        e.wait_log(r"serving session %s" % name)
        wait_listening(ep)
        rc = Client(ep)
        time.sleep(0.3)
        rc.send_line("hello")
        rc.wait_for(r"got-hello")
        rc.wait_for(r"program sh exited with status 7")
        check(e.wait_exit(15) == 7, "the edge's exit status is not the program's")
        check(o.wait_exit(15) == 7, "the origin's exit status is not the program's")
    finally:
        stop_all(e, o, nats)


@test
def test_nats_edge_persist_serves_next_session(workdir):
    """-p: when the origin's session ends the edge stays, and serves the next session
    published under the same name on the same servers."""
    nats = NatsServer(workdir)
    name = session_name()
    op, ep = free_port(), free_port()
    o1 = o2 = e = None
    try:
        o1 = origin(nats, name, ["sh", "-c", "echo first-session; read x; exit 3"], op)
        e = Edge("%s,session=%s" % (nats.url(), name), ["tcp:port=%d" % ep], extra=["-p"])
        e.wait_log(r"serving session %s" % name)
        wait_listening(ep)
        c1 = Client(ep)
        c1.wait_for(r"first-session")
        c1.send_line("bye")
        c1.wait_for(r"program sh exited with status 3")
        c1.wait_eof(15)
        check(o1.wait_exit(15) == 3, "the first origin did not end")
        e.wait_log(r"waiting for the next session published as %s \(-p\)" % name)
        check(e.proc.poll() is None, "the edge ended with the session despite -p")
        o2 = origin(nats, name, ["sh", "-c", "echo second-session; sleep 30"], op)
        deadline = time.monotonic() + 15
        c2 = None
        while time.monotonic() < deadline:
            try:
                c2 = Client(ep)
                c2.wait_for(r"second-session", timeout=3)
                break
            except (OSError, TestFailure):
                c2 = None
                time.sleep(0.3)
        check(c2 is not None, "the edge never served the next session")
        check(b"first-session" not in c2.data, "the next session shows the last one's output")
        e.proc.terminate()
        rc = e.wait_exit(15)
        check(rc == 128 + signal.SIGTERM, "the edge exited %r on SIGTERM" % rc)
    finally:
        stop_all(e, o1, o2, nats)


@test
def test_nats_publish_at_run_time(workdir):
    """.publish starts publishing a running session (what came before included), shows its
    state, and .publish off stops it: an edge started late gets the history, then nothing
    more once publishing stops."""
    nats = NatsServer(workdir)
    name = session_name()
    op, ep = free_port(), free_port()
    o = e = None
    try:
        o = start(["tcp:port=%d" % op], BASH, noio=True)
        oc = Client(op)
        oc.wait_for(r"\$ |# ")
        oc.send_line("echo before-$((40+2))")
        oc.wait_for(r"\r\nbefore-42\r\n")
        oc.send_line(".publish")
        oc.wait_for(r"the session is not published")
        oc.send_line(".publish %s,session=%s" % (nats.url(), name))
        oc.wait_for(r"publishing to nats://127\.0\.0\.1:%d session %s: " % (nats.port, name))
        e = Edge("%s,session=%s" % (nats.url(), name), ["tcp:port=%d" % ep])
        e.wait_log(r"serving session %s" % name)
        wait_listening(ep)
        rc = Client(ep)
        rc.wait_for(r"\r\nbefore-42\r\n")
        oc.send_line("echo during-$((5*5))")
        rc.wait_for(r"\r\nduring-25\r\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            mark = len(oc.data)
            oc.send_line(".publish")
            m = oc.wait_for(rb"connected; acknowledged up to offset (\d+) of (\d+)", start=mark)
            if int(m.group(1)) > 0:
                break
            time.sleep(0.3)
        check(int(m.group(1)) > 0, "nothing acknowledged: %r" % m.group(0))
        oc.send_line(".publish off")
        oc.wait_for(r"publishing stopped")
        oc.send_line("echo after-$((3*3))")
        oc.wait_for(r"\r\nafter-9\r\n")
        time.sleep(1)
        rc.pump(0.2)
        check(b"after-9" not in rc.data, "the edge got output after .publish off")
    finally:
        stop_all(e, o, nats)


@test
def test_nats_user_password(workdir):
    """NATS that wants a user and password: the origin and edge read it from passfile=, it
    appears in no command line and no listing, and a wrong one is told and never served."""
    pw = "pw-%d-secret" % os.getpid()
    nats = NatsServer(workdir, extra=["--user", "rsuser", "--pass", pw])
    good, bad = os.path.join(workdir, "nats-good"), os.path.join(workdir, "nats-bad")
    for path, text in ((good, pw), (bad, "wrong")):
        with open(path, "w") as f:
            f.write(text + "\n")
    name = session_name()
    op, ep, bp = free_port(), free_port(), free_port()
    o = e = wrong = None
    try:
        o = start(["tcp:port=%d" % op], BASH, noio=True,
            extra=["-publish", "%s,session=%s,user=rsuser,passfile=%s" % (nats.url(), name, good)])
        e = Edge("%s,session=%s,user=rsuser,passfile=%s" % (nats.url(), name, good),
                 ["tcp:port=%d" % ep])
        wrong = Edge("%s,session=%s,user=rsuser,passfile=%s" % (nats.url(), name, bad),
                     ["tcp:port=%d" % bp])
        e.wait_log(r"serving session %s" % name)
        wait_listening(ep)
        oc, rc = Client(op), Client(ep)
        oc.wait_for(r"\$ |# ")
        oc.send_line("echo authed-$((3*3))")
        rc.wait_for(r"\r\nauthed-9\r\n")
        oc.send_line(".publish")
        oc.wait_for(r"publishing to nats://127\.0\.0\.1:%d session %s \(authenticated\): "
                    r"connected" % (nats.port, name))
        rc.send_line(".servers")
        rc.wait_for(r"fed from nats://127\.0\.0\.1:%d session %s \(authenticated\)"
                    % (nats.port, name))
        wrong.wait_log(r"cannot connect to nats://127\.0\.0\.1:%d: .*Authorization Violation"
                       % nats.port)
        check(wrong.proc.poll() is None, "a refused login ended the edge")
        try:
            socket.create_connection(("127.0.0.1", bp), timeout=1).close()
            raise TestFailure("an edge that could not log in serves clients")
        except OSError:
            pass
        for pid, what in ((o.proc.pid, "origin"), (e.proc.pid, "edge")):
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                check(pw.encode() not in f.read(), "the password is in the %s's argv" % what)
        for c in (oc, rc):
            c.pump(0.2)
            check(pw.encode() not in c.data and b"nats-good" not in c.data and
                  b"rsuser" not in c.data, "a secret, its file or the user was shown: %r"
                  % bytes(c.data[-400:]))
    finally:
        stop_all(wrong, e, o, nats)


@test
def test_nats_stress(workdir):
    """The thread/loop bridge under load, for the sanitizer build (make SANITIZE=1): a long
    numbered output published in many batches while one edge's connection is cut twice, the
    NATS server is killed and started again, and clients keep joining and leaving both edges;
    the clients that stay get every line exactly once, and no process reports an error."""
    count = 300000
    nats = NatsServer(workdir)
    relay = Relay(nats.port)
    name = session_name()
    op, ap, bp = free_port(), free_port(), free_port()
    o = ea = eb = None
    churn = []
    try:
        o = origin(nats, name, BASH, op)
        ea = Edge("%s,session=%s,name=a" % (nats.url(relay.port), name), ["tcp:port=%d" % ap])
        eb = Edge("%s,session=%s,name=b" % (nats.url(), name), ["tcp:port=%d" % bp])
        for e, p in ((ea, ap), (eb, bp)):
            e.wait_log(r"serving session %s" % name)
            wait_listening(p)
        oc, ac, bc = Client(op), Client(ap), Client(bp)
        for c in (oc, ac, bc):
            c.wait_for(r"\$ |# ")
        time.sleep(0.5)
        # Lines in bursts of 2000, so that the faults land mid-output.
        oc.send_line("awk 'BEGIN { for (i = 1; i <= %d; i++) { print i; "
                     "if (i %% 2000 == 0) { fflush(); system(\"sleep 0.02\") } } }'" % count)
        t0 = time.monotonic()
        events = [(1.0, "cut"), (2.0, "kill"), (3.0, "start"), (4.0, "cut")]
        joined = 0
        while time.monotonic() - t0 < 8 and b"\r\n%d\r\n" % count not in ac.data:
            for c in (oc, ac, bc):
                c.pump(0.01)
            now = time.monotonic() - t0
            while events and events[0][0] <= now:
                what = events.pop(0)[1]
                if what == "cut":
                    relay.cut()
                elif what == "kill":
                    nats.stop(signal.SIGKILL)
                else:
                    nats.start()
            if joined < 40 and now > joined * 0.15:
                churn.append(Client(ap if joined % 2 else bp))
                joined += 1
                if len(churn) > 4:
                    churn.pop(0).close()
        check(not events or events == [(4.0, "cut")], "the output ended before the faults: "
              "%r left" % events)
        for c in (ac, bc):
            wait_count(c, count, 90)
        wait_count(oc, count, 30)
        for c in (oc, ac, bc):
            seq_lines(c.data, count)
        check(joined >= 20, "only %d clients came and went" % joined)
    finally:
        for c in churn:
            c.close()
        stop_all(ea, eb, o, relay, nats)


def self_signed(workdir, name):
    """A self-signed certificate for 127.0.0.1 (NAME.crt, NAME.key in WORKDIR)."""
    crt, key = os.path.join(workdir, name + ".crt"), os.path.join(workdir, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    return crt, key


@test
def test_nats_tls(workdir):
    """NATS over TLS: with ca= naming the server's CA the session goes through; with another
    CA the edge says why and serves nothing."""
    crt, key = self_signed(workdir, "nats-srv")
    other, _ = self_signed(workdir, "nats-other")
    nats = NatsServer(workdir, extra=["--tls", "--tlscert", crt, "--tlskey", key])
    name = session_name()
    op, ep, bp = free_port(), free_port(), free_port()
    o = e = bad = None
    try:
        o = start(["tcp:port=%d" % op], BASH, noio=True,
                  extra=["-publish", "%s,session=%s,ca=%s" % (nats.url(), name, crt)])
        e = Edge("%s,session=%s,ca=%s" % (nats.url(), name, crt), ["tcp:port=%d" % ep])
        bad = Edge("%s,session=%s,ca=%s" % (nats.url(), name, other), ["tcp:port=%d" % bp])
        e.wait_log(r"serving session %s" % name)
        wait_listening(ep)
        oc, rc = Client(op), Client(ep)
        oc.wait_for(r"\$ |# ")
        oc.send_line("echo over-tls-$((7*6))")
        rc.wait_for(r"\r\nover-tls-42\r\n")
        bad.wait_log(r"cannot connect to nats://127\.0\.0\.1:%d: " % nats.port)
        check(bad.proc.poll() is None, "a failed TLS check ended the edge")
        check(b"serving session" not in bad.stderr, "an edge that does not trust NATS serves")
    finally:
        stop_all(bad, e, o, nats)


@test
def test_nats_bad_specs(workdir):
    """Mistakes in -publish / -edge specs are refused with a reason, before anything runs."""
    cases = [
        (["-publish", "http://x:1", "--", "true"], rb"expected nats://HOST:PORT"),
        (["-publish", "nats://127.0.0.1:4222,password=x", "--", "true"], rb"passfile=FILE"),
        (["-publish", "nats://127.0.0.1:4222,session=a.b", "--", "true"], rb"session= takes"),
        (["-publish", "nats://127.0.0.1:4222,user=u", "--", "true"], rb"user= needs passfile"),
        (["-edge", "nats://127.0.0.1:4222", "-server", "tcp:port=1"], rb"needs session=NAME"),
        (["-edge", "nats://127.0.0.1:4222,session=x"], rb"needs at least one -server"),
        (["-edge", "nats://127.0.0.1:4222,session=x", "-server", "tcp:port=1", "--", "true"],
         rb"no program"),
    ]
    for args, want in cases:
        r = subprocess.run([harness.BIN] + args, capture_output=True, timeout=10)
        check(r.returncode == 2, "%r exited %d, not 2" % (args, r.returncode))
        check(re.search(want, r.stderr), "%r said %r" % (args, r.stderr))


def cpu_ticks(pid):
    """utime + stime of PID, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def origin_conn(mon_port, name):
    """The origin's connection as nats-server's monitoring sees it (msgs/bytes to it)."""
    import json
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/connz?limit=1000" % mon_port,
                                timeout=5) as r:
        conns = json.load(r)["connections"]
    for c in conns:
        if c.get("name") == "ringside origin %s" % name:
            return c
    raise TestFailure("no origin connection at the NATS server: %r"
                      % [c.get("name") for c in conns])


def edge_clients_listed(oc, edge):
    """How many of EDGE's clients .clients at the origin lists now."""
    mark = len(oc.data)
    oc.send_line(".clients")
    oc.wait_for(r"\.clients\r\n", start=mark)
    last = -1
    # The listing is done when it stops growing.
    while True:
        oc.pump(0.3)
        n = bytes(oc.data[mark:]).count(b" via edge %s (edge client, " % edge.encode())
        if n == last:
            return n
        last = n


@test
@slow
@exclusive
def test_nats_origin_cpu_flat_with_edge_clients(workdir):
    """The origin's work does not grow with the number of an edge's idle clients (presence
    version 2: a heartbeat per edge every 5 s, deltas only for joins and leaves): over 20 s
    idle with 40 and then 2,000 raw clients at one edge, the NATS server delivers the origin
    about the same few presence messages, and its CPU stays about the same.  Both are
    printed; only generous bounds are asserted.  .clients at the origin lists every one."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4500:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    mon = free_port()
    nats = NatsServer(workdir, extra=["-m", str(mon)])
    name = session_name()
    op, ep = free_port(), free_port()
    o = e = None
    socks = []
    try:
        o = origin(nats, name, BASH, op)
        e = Edge("%s,session=%s,name=east" % (nats.url(), name), ["tcp:port=%d" % ep],
                 extra=["-maxclients", "20000"])
        e.wait_log(r"serving session %s" % name)
        wait_listening(ep)
        oc = Client(op)
        oc.wait_for(r"\$ |# ")
        results = []
        for total in (40, int(os.environ.get("IT_NATS_MANY", "2000"))):
            had = len(socks)
            while len(socks) < total:
                s = socket.create_connection(("127.0.0.1", ep))
                s.setblocking(False)
                socks.append(s)
            mark = len(oc.data)
            deadline = time.monotonic() + 60
            while edge_clients_listed(oc, "east") != total:
                check(time.monotonic() < deadline, ".clients at the origin never listed "
                      "the edge's %d clients" % total)
                time.sleep(1)
            # Every join told once at the origin, a storm in a few lines (one per delta
            # message: they are batched, at most a message a second and 64 KiB each).
            told = bytes(oc.data[mark:])
            storms = [int(x) for x in re.findall(rb"ringside: (\d+) clients connected and 0 "
                                                 rb"disconnected at edge east by ", told)]
            singles = len(re.findall(rb" via edge east connected at ", told))
            check(sum(storms) + singles == total - had,
                  "joins told at the origin: %d in %d lines and %d one by one, for %d new clients"
                  % (sum(storms), len(storms), singles, total - had))
            check(len(storms) <= 20, "%d lines for a storm of joins" % len(storms))
            print("  %d joins at the edge told at the origin in %d lines" % (sum(storms) + singles,
                                                                          len(storms) + singles))
            # Settled: what is left is the steady state.
            time.sleep(6)
            c0, t0 = origin_conn(mon, name), cpu_ticks(o.proc.pid)
            time.sleep(20)
            c1, t1 = origin_conn(mon, name), cpu_ticks(o.proc.pid)
            results.append((total, t1 - t0, c1["out_msgs"] - c0["out_msgs"],
                            c1["out_bytes"] - c0["out_bytes"]))
        hz = os.sysconf("SC_CLK_TCK")
        for total, ticks, msgs, nbytes in results:
            print("  origin over 20 s idle with %d edge clients: %.2f%% of a core, %d messages "
                  "(%d bytes) from NATS" % (total, 100.0 * ticks / hz / 20, msgs, nbytes))
        (_, ticks40, msgs40, _), (_, ticks2k, msgs2k, bytes2k) = results
        # Heartbeats only: 4 or 5 in 20 s, a few hundred bytes each (a whole list of
        # 2,000 clients would be ~90 KB every 5 s).
        check(msgs2k <= msgs40 + 4 and bytes2k < 16384,
              "the origin was sent %d messages (%d bytes) with 2,000 edge clients, %d with "
              "40" % (msgs2k, bytes2k, msgs40))
        check(ticks2k <= ticks40 + hz // 2,
              "the origin's CPU grew from %d to %d ticks" % (ticks40, ticks2k))
    finally:
        for s in socks:
            s.close()
        stop_all(e, o, nats)
