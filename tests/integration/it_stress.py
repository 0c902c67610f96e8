# SPDX-License-Identifier: MIT
# Churn against the send path, meant for the ASan/UBSan build (CI runs the
# integration suite there too): many clients that stall, resume, get skip
# markers, GAPs and refusals, and reset their connections mid-send, while
# the session prints fast through a small ring.  The server must stay up,
# report nothing, and give every reader its output in order.
import random
import socket
import struct
import time

import wire
from harness import BASH, Client, Session, check, free_port, numbers_in_order, test, wait_listening

SECONDS = 20




def reset(sock):
    """Close with a reset (SO_LINGER 0), whatever the server is sending."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@test
def test_stress_stall_resume_refuse_reset(workdir):
    rng = random.Random(7)
    p_rw, p_ro = free_port(), free_port()
    s = Session(["tcp:port=%d" % p_rw, "tcp:port=%d,readonly" % p_ro], BASH,
                extra=["-ring", "256K", "-lag", "128K", "-history", "16K"], noio=True)
    wait_listening(p_rw)
    wait_listening(p_ro)
    try:
        typist = Client(p_rw)
        typist.wait_for(r"\$ |# ")
        typist.send_line("for r in $(seq 1 400); do seq $((r*100000)) $((r*100000+2000)); "
                         "sleep 0.05; done; echo stress-$((6*7))")
        stallers = [Client(p_rw if i % 2 else p_ro, rcvbuf=2048) for i in range(12)]
        # Each staller stops reading for 0.5-3 s, then reads flat out for a moment.
        wake = [time.monotonic() + rng.uniform(0.5, 3) for _ in stallers]
        readers = [Client(p_rw) for _ in range(4)]
        natives, resets, refusals, rounds = [], 0, 0, 0
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            rounds += 1
            now = time.monotonic()
            for i, c in enumerate(stallers):
                if now >= wake[i]:
                    end = now + rng.uniform(0.05, 0.3)
                    while time.monotonic() < end:
                        c.pump(0.01)
                    wake[i] = time.monotonic() + rng.uniform(0.5, 3)
                elif rng.random() < 0.3:
                    # Refusals (and lines) queue up while it is not reading.
                    try:
                        c.send_line("refused while stalled %d" % rounds)
                        refusals += 1
                    except OSError:
                        pass
            for c in readers:
                c.pump(0)
            # Connections that reset mid-send.
            for _ in range(3):
                try:
                    c = Client(p_rw if rng.random() < 0.5 else p_ro, rcvbuf=4096)
                    c.pump(0.005)
                    reset(c.sock)
                    resets += 1
                except OSError:
                    pass
            # Native clients that join, stall, and vanish.
            if rng.random() < 0.5:
                try:
                    n = wire.NativePeer(p_rw, timeout=5)
                    n.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                    n.send(wire.PREAMBLE + wire.hello(b"stress\\n%d" % rounds))
                    natives.append(n)
                except OSError:
                    pass
            while len(natives) > 8:
                reset(natives.pop(0).sock)
            time.sleep(0.02)
        typist.wait_for(r"stress-42", timeout=120)
        for c in readers:
            deadline = time.monotonic() + 30
            while b"stress-42" not in c.data and time.monotonic() < deadline:
                c.pump(0.1)
            numbers_in_order(c.data)
            check(b"stress-42" in c.data, "a reader never saw the end")
        for c in stallers:
            c.pump(0.05)
            numbers_in_order(c.data)
        for n in natives:
            reset(n.sock)
        # Still serving, and nothing went astray in its accounting.
        typist.send_line(".stats")
        m = typist.wait_for(r"ringside stats: clients=(\d+) [^\r]*copied=0")
        check(refusals > 50 and resets > 100, "the stress did little: %d refusals, %d resets"
              % (refusals, resets))
    finally:
        s.close()   # fails the test on any sanitizer report
