# SPDX-License-Identifier: MIT
# Reverse connections (clicon=): the server dials a listening client, in
# either start order, asks for the password over the dialed connection,
# dials again after a drop, and ends when its client leaves.
import re
import socket
import struct
import time

from harness import BASH, Client, Session, TestFailure, check, free_port, test

PROMPT = rb"bash-[\d.]+[#$] "


def accept_one(lsock, timeout=15):
    """The server's call, as a harness.Client."""
    lsock.settimeout(timeout)
    try:
        conn, peer = lsock.accept()
    except socket.timeout:
        raise TestFailure("the server never dialed in")
    conn.setblocking(False)
    c = Client.__new__(Client)
    c.sock, c.data, c.eof = conn, bytearray(), False
    return c, peer


def listener(port):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("127.0.0.1", port))
    l.listen(4)
    return l


@test
def test_clicon_client_first_then_server(workdir):
    port = free_port()
    l = listener(port)
    s = Session(["tcp:port=%d,clicon=127.0.0.1,password=rev7" % port], BASH, noio=True)
    try:
        c, peer = accept_one(l)
        check(peer[0] == "127.0.0.1", "dialed from %r" % (peer,))
        c.wait_for(r"Password: ")
        c.send_line("rev7")
        c.wait_for(PROMPT)
        c.send_line("echo dialed-$((6*7))")
        c.wait_for(r"dialed-42")
        c.send_line(".servers")
        c.wait_for(r"0 - Debugger Server - tcp:Port=%d,Password=\*,Clicon=127\.0\.0\.1" % port)
        # A drop (a reset, not a goodbye): the server dials again.
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.sock.close()
        s.wait_log(rb"lost the client at 127\.0\.0\.1:%d .*dialing again" % port)
        c2, _ = accept_one(l)
        c2.wait_for(r"Password: ")
        c2.send_line("rev7")
        c2.wait_for(PROMPT)
        # A goodbye: the server says so and ends.
        watcher_port = free_port()
        c2.send_line(".server tcp:port=%d" % watcher_port)
        # Its own banner: the session's first one is in the history.
        c2.wait_for(r"ringside -remote tcp:Port=%d,Server=" % watcher_port)
        w = Client(watcher_port)
        w.wait_for(PROMPT)
        c2.sock.shutdown(socket.SHUT_WR)
        w.wait_for(r"ringside: the reverse connection to 127\.0\.0\.1:%d has ended; start the "
                   r"server again to reconnect" % port, timeout=20)
        w.send_line(".servers")
        w.wait_for(r"0 - <Disabled, exit pending>")
        # No more calls.
        l.settimeout(3)
        try:
            l.accept()
            raise TestFailure("the ended server dialed again")
        except socket.timeout:
            pass
    finally:
        l.close()
        s.close()


@test
def test_clicon_server_first_retries_until_the_client_listens(workdir):
    port = free_port()
    s = Session(["tcp:port=%d,clicon=127.0.0.1" % port], BASH, noio=True)
    try:
        s.wait_log(rb"the client at 127\.0\.0\.1:%d does not answer \(Connection refused\)" % port)
        time.sleep(1.5)
        l = listener(port)
        try:
            c, _ = accept_one(l, timeout=40)
            c.wait_for(PROMPT)
            c.send_line("echo late-listener-$((3*3))")
            c.wait_for(r"late-listener-9")
        finally:
            l.close()
        # Logged once, not once per attempt.
        s.pump()
        check(len(re.findall(rb"does not answer", bytes(s.stderr))) == 1,
              "every retry was logged: %r" % bytes(s.stderr))
    finally:
        s.close()


@test
def test_clicon_over_tls(workdir):
    import ssl
    import it_tls
    env, crt = it_tls.tls_env(workdir)
    port = free_port()
    l = listener(port)
    s = Session(["ssl:proto=tls1,certuser=srv,port=%d,clicon=127.0.0.1" % port], BASH,
                noio=True, env=env)
    try:
        raw, _ = accept_one(l)
        raw.sock.setblocking(True)
        # The dialed side listens, but speaks TLS as the client, and checks
        # the server's certificate against its own copy.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(crt)
        c = it_tls.TLSClient.__new__(it_tls.TLSClient)
        c.sock = ctx.wrap_socket(raw.sock)
        c.sock.setblocking(False)
        c.data, c.eof = bytearray(), False
        c.wait_for(PROMPT)
        c.send_line("echo tls-dialed-$((5*5))")
        c.wait_for(r"tls-dialed-25")
        check(re.search(rb"\(ssl 127\.0\.0\.1:%d\): echo tls-dialed" % port, c.data),
              "identity: %r" % bytes(c.data[-300:]))
    finally:
        l.close()
        s.close()


def remote_listening(spec, env=None, quiet_ms=3000):
    """ringside -remote SPEC (a clicon= client, which listens); its script
    goes in with communicate()."""
    import subprocess
    import harness
    return subprocess.Popen([harness.BIN, "-remote", spec, "-quiet", str(quiet_ms)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TestFailure("nothing listens on %d" % port)


@test
def test_clicon_native_client_listens_and_resumes(workdir):
    from harness import Relay
    port = free_port()
    c = remote_listening("tcp:clicon=127.0.0.1,port=%d,password=pw5" % port)
    try:
        time.sleep(0.5)
        # A caller that is not the server is refused, and the wait goes on.
        intruder = socket.socket()
        intruder.bind(("127.0.0.2", 0))
        intruder.connect(("127.0.0.1", port))
        intruder.settimeout(5)
        check(intruder.recv(100) == b"", "the intruder was served")
        intruder.close()
        # The server dials through a relay that cuts the first call mid-output.
        relay = Relay(port, cut_after=60000, cut_upstream=True)
        s = Session(["tcp:port=%d,clicon=127.0.0.1,password=pw5" % relay.port], BASH, noio=True)
        try:
            out, err = c.communicate(b"seq 1 30000; echo end-$((1+1))\n", timeout=60)
        finally:
            relay.close()
            s.close()
        check(relay.cuts == 1, "the relay never cut the connection")
        check(b"refused a connection from 127.0.0.2: only 127.0.0.1 may connect" in err,
              "no refusal said: %r" % err[-400:])
        check(b"waiting for 127.0.0.1 to connect to port %d" % port in err, "err %r" % err[-300:])
        check(b"reconnecting" in err, "no reconnect: %r" % err[-400:])
        nums = [int(x) for x in re.findall(rb"^(\d+)\r?$", out, re.M)]
        check(nums == list(range(1, 30001)), "lines after the resume: %d, first gap at %r" % (
            len(nums), next((i for i, n in enumerate(nums) if n != i + 1), None)))
        check(b"end-2" in out, "the end marker is missing")
    finally:
        if c.poll() is None:
            c.kill()
            c.wait()


@test
def test_clicon_over_tls_with_pinned_certificate(workdir):
    import it_tls
    env, crt = it_tls.tls_env(workdir)
    port = free_port()
    c = remote_listening("ssl:proto=tls1,certuser=srv,clicon=127.0.0.1,port=%d" % port,
                         env=env, quiet_ms=1500)
    try:
        time.sleep(0.5)
        s = Session(["ssl:proto=tls1,certuser=srv,port=%d,clicon=127.0.0.1" % port], BASH,
                    noio=True, env=env)
        try:
            out, err = c.communicate(b".echo pinned-$((4*4))\n", timeout=30)
        finally:
            s.close()
        check(b"pinned-$((4*4))" in out, "out %r err %r" % (out[-300:], err[-300:]))
    finally:
        if c.poll() is None:
            c.kill()
            c.wait()
