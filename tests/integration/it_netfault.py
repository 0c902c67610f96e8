# SPDX-License-Identifier: MIT
# Peers behind black holes (packets dropped both ways, no reset), made with
# nftables inside a private network namespace (netfault.py): a skipped
# client must not be sent the ring forever, healthy clients must not wait
# for the dead, and dead peers are found and let go in bounded time.
import re
import time

import netfault
import wire
from harness import BASH, Client, check, free_port, numbers_in_order, read_until_quiet, start, test

# About 12 MB of numbered lines over ~12 s: more than a 1 MiB ring and the
# kernel's socket buffers (up to 4 MiB) hold for a peer that reads nothing.
PRODUCER = ("python3 -u -c 'import time\n"
            "for b in range(1500):\n"
            "    print(\"\\n\".join(\"%d %s\" % (b * 200 + i, 32 * \"x\") for i in range(1, 201)), flush=True)\n"
            "    time.sleep(0.008)\n"
            "print(\"producer-%s\" % \"done\")'")


def stats(client, mark):
    """`.stats` through CLIENT: the counters as a dict."""
    client.send_line(".echo %s" % mark)
    client.send_line(".stats")
    m = client.wait_for(r"%s\r\n(?:.*\r\n)*?ringside stats: ([^\r]+)\r\n" % re.escape(mark))
    return dict(kv.split("=", 1) for kv in m.group(1).decode().split() if "=" in kv)





@test
def test_black_holed_clients_neither_loop_nor_hold_back_others(workdir):
    """Issue item 11: with -ring 1M, a raw and a native client behind a 20 s
    black hole while the session printed: after three skips the raw client
    was sent the stale ring without end (3.3 GB in 10 s), and the healthy
    native client got nothing for 75 s."""
    with netfault.private_network():
        port = free_port()
        s = start(["tcp:port=%d" % port], BASH, extra=["-ring", "1M"], noio=True)
        try:
            typist, raw = Client(port), Client(port)
            typist.wait_for(r"\$ |# ")
            healthy = wire.NativePeer(port)
            healthy.join(b"box\\healthy")
            hidden = wire.NativePeer(port)
            hidden.join(b"box\\hidden")
            for sock in (raw.sock, hidden.sock):
                netfault.black_hole(sock.getsockname()[1])
            typist.send_line(PRODUCER)
            # The healthy native client keeps receiving while the others are dark.
            t0, last_rx, got, longest_wait = time.monotonic(), time.monotonic(), 0, 0.0
            while time.monotonic() - t0 < 14:
                r = healthy.next_record(timeout=0.5)
                now = time.monotonic()
                if r and r[0] in (wire.OUTPUT, wire.NOTICE, wire.TYPED):
                    longest_wait = max(longest_wait, now - last_rx)
                    last_rx, got = now, got + len(r[2])
                typist.pump()
                if b"producer-done" in typist.data[-64:]:
                    break
            check(got > 4 << 20, "the healthy client got only %d bytes" % got)
            check(longest_wait < 3, "the healthy client waited %.1f s for output" % longest_wait)
            typist.wait_for(r"producer-done", timeout=30)
            before = int(stats(typist, "before-lift")["bytes_sent"])
            netfault.lift_all()
            # The raw client catches up to the end and no further.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and b"producer-done" not in raw.data[-4096:]:
                raw.pump(0.2)
            read_until_quiet(raw, quiet=1.0, max_bytes=64 << 20)
            skips, last = numbers_in_order(raw.data, line=rb"(\d+) x{32}")
            check(b"producer-done" in raw.data, "the raw client never caught up")
            check(skips >= 1, "the raw client was never skipped ahead; the test did not bite")
            check(last == 300000, "the raw client's numbers end at %d" % last)
            check(len(raw.data) < 16 * (1 << 20), "the raw client was sent %d bytes" % len(raw.data))
            time.sleep(2)
            after = int(stats(typist, "after-lift")["bytes_sent"])
            check(after - before < 8 * (1 << 20),
                  "the server kept sending: %d bytes after the producer ended" % (after - before))
        finally:
            s.close()


@test
def test_dead_peers_dropped_in_bounded_time(workdir):
    """Issue item 12: dead clients were freed only by the kernel's retry
    limit (about 15 minutes with output flowing) and never while the session
    was idle.  With -peertimeout 6, black-holed clients must go within
    seconds, idle or not, with the reason in the log."""
    with netfault.private_network():
        port = free_port()
        s = start(["tcp:port=%d" % port], BASH, extra=["-peertimeout", "6"], noio=True)
        try:
            typist = Client(port)
            typist.wait_for(r"\$ |# ")
            idle = [Client(port) for _ in range(10)]
            busy = [Client(port) for _ in range(5)]
            time.sleep(0.5)
            check(stats(typist, "all-in")["clients"] == "16", "not all clients were counted")
            # Idle session: only keepalive can tell.
            for c in idle:
                netfault.black_hole(c.sock.getsockname()[1])
            t0 = time.monotonic()
            while time.monotonic() - t0 < 15 and stats(typist, "idle-%d" % int(time.monotonic() * 1000))["clients"] != "6":
                time.sleep(0.5)
            idle_gone = time.monotonic() - t0
            check(idle_gone < 12, "idle dead peers took %.1f s to go (limit 6 s)" % idle_gone)
            # Output flowing: sends stop making progress.
            for c in busy:
                netfault.black_hole(c.sock.getsockname()[1])
            typist.send_line(PRODUCER)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 20 and stats(typist, "busy-%d" % int(time.monotonic() * 1000))["clients"] != "1":
                time.sleep(0.5)
            busy_gone = time.monotonic() - t0
            check(busy_gone < 14, "busy dead peers took %.1f s to go (limit 6 s)" % busy_gone)
            s.pump()
            log = s.stderr.decode(errors="replace")
            check(re.search(r"dropped: (Connection timed out|no progress for 6 s while behind)", log),
                  "the log does not say why: %r" % log[-600:])
        finally:
            s.close()
