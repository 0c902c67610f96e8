# SPDX-License-Identifier: MIT
# The repeater (`ringside -repeater -c SPEC -s SPEC [-p]`, WinDbg's dbengprx): an origin
# session, one repeater connected to it, and clients of the repeater, raw and native.  Every
# client of the repeater sees the origin's transcript byte for byte (at the origin's offsets,
# under its SESSION), types with its own name, proves the origin's password through the
# repeater, and loses nothing when the repeater's own connection is cut.
import os
import re
import select
import socket
import struct
import subprocess
import time

import harness
from harness import (BASH, Client, Relay, TestFailure, check, free_port, numbers_in_order,
                     pump_all, slow, start, test, wait_listening)
from wire import (ACCEPT, CHALLENGE, GAP, NOTICE, OUTPUT, PREAMBLE, PRIVATE, PROOF, REFUSE,
                  STATE, TYPED, WELCOME, NativePeer, hello, parse_tlv, record, tlv)

PROMPT = rb"bash-[\d.]+[#$] "
T_SESSION, T_ROLE, T_START, T_AUTH = 3, 10, 11, 16
T_FROM, T_TO = 14, 15
VIA = rb"\(tcp 127\.0\.0\.1:\d+ via tcp 127\.0\.0\.1:\d+\)"


class Repeater:
    """ringside -repeater, its stderr kept."""

    def __init__(self, upstream_port, port, extra_s=(), persist=False, upstream=None,
                 extra=()):
        self.port = port
        args = [harness.BIN, "-repeater", "-c",
                upstream or "tcp:server=127.0.0.1,port=%d" % upstream_port,
                "-s", "tcp:port=%d" % port]
        for spec in extra_s:
            args += ["-s", spec]
        if persist:
            args.append("-p")
        args += list(extra)
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        os.set_blocking(self.proc.stderr.fileno(), False)
        self.stderr = bytearray()

    def pump(self):
        while True:
            try:
                data = os.read(self.proc.stderr.fileno(), 65536)
            except BlockingIOError:
                return
            if not data:
                return
            self.stderr += data

    def wait_log(self, pattern, timeout=10):
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump()
            if rx.search(self.stderr):
                return
            time.sleep(0.05)
        raise TestFailure("the repeater never logged %r: %r" % (pattern, bytes(self.stderr[-600:])))

    def wait_exit(self, timeout=10):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("the repeater did not exit within %ss" % timeout)
        self.pump()
        return rc

    def cpu_ticks(self):
        return cpu_ticks(self.proc.pid)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.pump()
        for marker in (b"AddressSanitizer", b"LeakSanitizer", b"runtime error:"):
            if marker in self.stderr:
                at = self.stderr.index(marker)
                raise TestFailure("repeater sanitizer report: %r" % bytes(self.stderr[at:at + 600]))


def cpu_ticks(pid):
    """utime + stime of PID, in clock ticks (/proc/PID/stat fields 14 and 15)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def origin_and_repeater(origin_spec="", persist=False, extra_s=()):
    """An origin hosting bash on a tcp server and a repeater connected to it, both up."""
    oport, rport = free_port(), free_port()
    origin = start(["tcp:port=%d%s" % (oport, origin_spec)], BASH, noio=True)
    rep = Repeater(oport, rport, persist=persist, extra_s=extra_s)
    try:
        rep.wait_log(r"repeating session [0-9a-f]{32}")
        wait_listening(rport)
    except Exception:
        rep.close()
        origin.close()
        raise
    return origin, oport, rep, rport


def stop_all(*procs):
    err = None
    for p in procs:
        try:
            p.close()
        except TestFailure as e:
            err = err or e
    if err:
        raise err


def run_remote(port, stdin, extra="", timeout=30, quiet_ms=500):
    """ringside -remote with a script: (status, stdout, stderr)."""
    args = [harness.BIN, "-remote", "tcp:server=127.0.0.1,port=%d%s" % (port, extra),
            "-quiet", str(quiet_ms)]
    try:
        r = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise TestFailure("client still running after %ss; stderr %r"
                          % (timeout, (e.stderr or b"")[-300:]))
    return r.returncode, r.stdout, r.stderr


def records_until(peer, pattern, timeout=15):
    """Transcript records (type, seq, payload) from PEER until their text matches PATTERN."""
    rx = re.compile(pattern)
    got, text = [], bytearray()
    deadline = time.monotonic() + timeout
    while not rx.search(text):
        r = peer.next_record(max(0.01, deadline - time.monotonic()))
        if r is None:
            raise TestFailure("no %r in the records; last text %r" % (pattern, bytes(text[-300:])))
        if r[0] in (OUTPUT, NOTICE, TYPED):
            got.append(r)
            text += r[2]
    return got, text


# ---- fan-out ----------------------------------------------------------------

@test
def test_repeater_200_clients_identical_output_and_identity(workdir):
    """Origin -> repeater -> 200 raw clients: every client's bytes are the same, and the same
    as a direct client of the origin's; a line typed at the repeater reaches bash under its
    typist's name, shown behind the repeater by the origin's .clients."""
    n = 200
    harness.raise_nofile(4 * n + 100)
    origin, oport, rep, rport = origin_and_repeater()
    clients = []
    try:
        direct = Client(oport)
        direct.wait_for(PROMPT)
        for _ in range(n):
            clients.append(Client(rport))
        for c in clients:
            c.wait_for(PROMPT, timeout=20)
        typist = clients[17]
        typist.send_line("echo begin-$((6*7)); seq 1 30000; echo end-$((6*7))")
        for c in clients + [direct]:
            c.wait_for(rb"\r\nend-42\r\n", timeout=30)
        pump_all(clients + [direct], 0.5)

        def section(c):
            m = re.search(rb"(?s)\r\nbegin-42\r\n.*?\r\nend-42\r\n", bytes(c.data))
            check(m, "no begin..end section")
            return m.group(0)
        want = section(direct)
        check(re.search(rb"\r\n1\r\n2\r\n(.*\r\n)?30000\r\n", want, re.S), "seq output missing")
        for i, c in enumerate(clients):
            check(section(c) == want, "client %d of the repeater saw other bytes than the "
                  "origin's direct client" % i)
        # Its line, with its name, the hop to the repeater included.
        port = typist.sock.getsockname()[1]
        typed = re.search(rb"[^\s\\]+\\client\d+ \(tcp 127\.0\.0\.1:%d via tcp 127\.0\.0\.1:\d+\): "
                          rb"echo begin" % port, bytes(direct.data))
        check(typed, "the origin did not show the typist behind the repeater: %r"
              % bytes(direct.data[-2000:]))
        name = typed.group(0).split(b": echo")[0]
        # Clients that only watch are registered once they have not turned out native
        # (a second of silence): ask until all are there.
        deadline = time.monotonic() + 15
        while True:
            start_at = len(direct.data)
            direct.send_line(".clients")
            m = direct.wait_for(rb"\(repeater for (\d+) clients?, read-write", start=start_at)
            if int(m.group(1)) == n or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        check(int(m.group(1)) == n, "the origin knows %s of %d clients" % (m.group(1), n))
        direct.wait_for(re.escape(name) + rb", last active [^\r]* \(behind a repeater, "
                        rb"read-write\)", start=start_at)
    finally:
        for c in clients:
            c.close()
        stop_all(rep, origin)


@test
def test_repeater_native_clients_share_the_origins_session_and_offsets(workdir):
    """A native client of the repeater gets the origin's SESSION and the origin's offsets:
    what it resumes with is good at the repeater and at the origin alike."""
    origin, oport, rep, rport = origin_and_repeater()
    try:
        at_origin = NativePeer(oport)
        o_acc = parse_tlv(at_origin.join(b"TESTBOX\\direct")[2])
        at_rep = NativePeer(rport)
        r_acc = parse_tlv(at_rep.join(b"TESTBOX\\viarep")[2])
        check(r_acc[T_SESSION] == o_acc[T_SESSION], "the repeater names another session")
        at_rep.send(record(34, b"echo mark-$((6*7))"))
        recs, text = records_until(at_rep, rb"mark-42\r\n")
        o_recs, o_text = records_until(at_origin, rb"mark-42\r\n")
        # Same bytes at the same offsets, record kinds included.
        def spans(rs):
            return {(t, seq, p) for t, seq, p in rs}
        tail = [r for r in recs if r[1] >= max(o_recs[0][1], recs[0][1])]
        o_tail = [r for r in o_recs if r[1] >= max(o_recs[0][1], recs[0][1])]
        joined = b"".join(p for _, _, p in tail)
        o_joined = b"".join(p for _, _, p in o_tail)
        check(tail and tail[0][1] == o_tail[0][1], "the two streams do not meet at one offset")
        n = min(len(joined), len(o_joined))
        check(n > 0 and joined[:n] == o_joined[:n], "the repeater's bytes differ from the origin's")
        check(re.search(rb"TESTBOX\\viarep \(tcp 127\.0\.0\.1:\d+ via tcp 127\.0\.0\.1:\d+\): "
                        rb"echo mark", text), "no TYPED line with the typist's name: %r" % text)
        kinds = {t for t, _, _ in recs}
        check(TYPED in kinds and OUTPUT in kinds, "record kinds lost at the repeater: %r" % kinds)
        # Take an offset in the middle of what arrived; resume there, at the repeater and
        # at the origin: both start exactly there.
        mid = recs[len(recs) // 2][1]
        after = b"".join(p[max(0, mid - s):] for _, s, p in recs if s + len(p) > mid)
        for port in (rport, oport):
            p = NativePeer(port)
            p.send(PREAMBLE + record(32, tlv(1, struct.pack(">I", 2)) +
                                     tlv(2, b"TESTBOX\\resumer") + tlv(3, r_acc[T_SESSION]) +
                                     tlv(4, struct.pack(">Q", mid))))
            p.expect(WELCOME)
            acc = parse_tlv(p.expect(ACCEPT)[2])
            check(struct.unpack(">Q", acc[T_START])[0] == mid,
                  "resuming at %d on port %d started elsewhere" % (mid, port))
            got = bytearray()
            while len(got) < len(after):
                r = p.next_record(5)
                check(r is not None and r[0] != GAP, "resume at %d: a gap or nothing" % mid)
                if r[0] in (OUTPUT, NOTICE, TYPED):
                    got += r[2]
            check(bytes(got[:len(after)]) == after, "resume on port %d repeated or lost bytes"
                  % port)
            p.close()
        at_rep.close()
        at_origin.close()
    finally:
        stop_all(rep, origin)


# ---- the repeater's own connection ------------------------------------------

@test
def test_repeater_upstream_cut_mid_output_loses_nothing(workdir):
    """The repeater's connection to the origin is cut in the middle of a long output: it
    reconnects and resumes, and none of its clients (raw or native) misses or repeats a
    line, or is dropped."""
    oport, rport = free_port(), free_port()
    origin = start(["tcp:port=%d" % oport], BASH, noio=True)
    relay = Relay(oport, cut_after=400_000)
    rep = Repeater(None, rport, upstream="tcp:server=127.0.0.1,port=%d" % relay.port)
    clients, peer = [], None
    try:
        rep.wait_log(r"repeating session")
        wait_listening(rport)
        clients = [Client(rport) for _ in range(5)]
        for c in clients:
            c.wait_for(PROMPT)
        peer = NativePeer(rport)
        acc = parse_tlv(peer.join(b"TESTBOX\\native")[2])
        nxt = struct.unpack(">Q", acc[T_START])[0]
        clients[0].send_line("seq 1 200000; echo done-$((6*7))")
        text = bytearray()
        deadline = time.monotonic() + 60
        while not re.search(rb"\r\ndone-42\r\n", text):
            r = peer.next_record(max(0.01, deadline - time.monotonic()))
            check(r is not None, "the native client stopped receiving: %r" % bytes(text[-200:]))
            check(r[0] not in (GAP, STATE, REFUSE), "the native client got record %d" % r[0])
            if r[0] in (OUTPUT, NOTICE, TYPED):
                check(r[1] == nxt, "record at %d where %d was due" % (r[1], nxt))
                nxt += len(r[2])
                text += r[2]
        check(relay.cuts == 1, "the relay never cut the repeater's connection")
        for c in clients:
            c.wait_for(rb"\r\ndone-42\r\n", timeout=60)
            check(not c.eof, "a client of the repeater was dropped")
        for stream in [text] + [c.data for c in clients]:
            markers, last = numbers_in_order(stream)
            check(markers == 0, "output was skipped")
            check(last == 200000, "numbers stop at %d" % last)
            check(len(re.findall(rb"\r\n(\d+)\r\n", bytes(stream))) >= 199990 or
                  bytes(stream).count(b"\r\n199999\r\n") == 1, "lines are missing")
            check(bytes(stream).count(b"\r\n123456\r\n") == 1, "a line repeated or missing")
        rep.wait_log(r"connection lost .*reconnecting")
    finally:
        for c in clients:
            c.close()
        if peer:
            peer.close()
        relay.close()
        stop_all(rep, origin)
