# SPDX-License-Identifier: MIT
# ssl and spipe servers: raw TLS clients (Python's ssl, openssl s_client,
# socat OPENSSL) get the text view; a recording relay sees only ciphertext;
# certificates are found by stem or spaced thumbprint and refused clearly;
# a handshake that stalls, sends garbage or offers no AEAD suite costs a
# bounded time and holds an authenticating place; a stalled TLS reader is
# skipped ahead without cutting a record.
import os
import re
import select
import socket
import ssl
import subprocess
import tempfile
import time

import harness
from harness import (BASH, Relay, Session, TestFailure, check, free_port, numbers_in_order,
                     read_until_quiet, start, test, wait_listening)

PROMPT = rb"bash-[\d.]+[#$] "


def make_cert(home, name, eku="serverAuth", key_mode=0o600):
    """A self-signed P-256 certificate NAME.crt/NAME.key in HOME's user store."""
    d = os.path.join(home, ".config", "ringside", "certs")
    os.makedirs(d, exist_ok=True)
    crt, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj", "/CN=" + name,
                    "-addext", "extendedKeyUsage=" + eku, "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    os.chmod(key, key_mode)
    return crt, key


def thumbprint(crt, spaced=True):
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha1", "-in", crt],
                         check=True, capture_output=True, text=True).stdout
    hexd = out.strip().split("=", 1)[1].replace(":", "")
    return " ".join(hexd[i:i + 2] for i in range(0, 40, 2)).lower() if spaced else hexd


def tls_env(workdir, cert="srv"):
    home = tempfile.mkdtemp(prefix="home-", dir=workdir)
    crt, _ = make_cert(home, cert)
    pipes = tempfile.mkdtemp(prefix="pipes-", dir=workdir)
    os.chmod(pipes, 0o700)
    return dict(os.environ, HOME=home, RINGSIDE_PIPE_DIR=pipes), crt


class TLSClient(harness.Client):
    """harness.Client over TLS (OpenSSL through Python's ssl): it checks
    nothing about the server, like `openssl s_client` or socat verify=0."""

    def __init__(self, port=None, path=None, cafile=None, **ssl_kw):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        if cafile:
            ctx.load_verify_locations(cafile)
        else:
            ctx.verify_mode = ssl.CERT_NONE
        for k, v in ssl_kw.items():
            setattr(ctx, k, v)
        if path:
            raw = socket.socket(socket.AF_UNIX)
            raw.settimeout(10)
            raw.connect(path)
        else:
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = ctx.wrap_socket(raw)
        self.sock.setblocking(False)
        self.data = bytearray()
        self.eof = False

    def pump(self, wait=0.0):
        if self.eof:
            return False
        if not self.sock.pending() and not select.select([self.sock], [], [], wait)[0]:
            return False
        got = False
        while True:
            try:
                chunk = self.sock.recv(1 << 16)
            except (ssl.SSLWantReadError, BlockingIOError):
                return got
            except (ConnectionResetError, ssl.SSLError, OSError):
                self.eof = True
                return True
            if not chunk:
                self.eof = True
                return True
            self.data += chunk
            got = True


def s_client(args, text, until, timeout=10):
    """openssl s_client -quiet ARGS typing TEXT; its output once UNTIL shows
    (it never exits by itself: -quiet ignores the end of its input)."""
    p = subprocess.Popen(["openssl", "s_client", "-quiet"] + args, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = bytearray()
    try:
        p.stdin.write(text)
        p.stdin.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not re.search(until, bytes(out)):
            if select.select([p.stdout], [], [], 0.2)[0]:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
    finally:
        p.kill()
        p.wait()
    return bytes(out)


@test
def test_ssl_raw_clients_share_the_text_view(workdir):
    env, crt = tls_env(workdir)
    port = free_port()
    s = start(["ssl:proto=tls1,certuser=srv,port=%d,password=pw42" % port], BASH, noio=True,
              env=env)
    procs = []
    try:
        py = TLSClient(port, cafile=crt)     # verifies against the server's own cert
        py.wait_for(r"Password: ")
        py.send_line("pw42")
        py.wait_for(PROMPT)
        check(py.sock.version() in ("TLSv1.3", "TLSv1.2"), "version %s" % py.sock.version())
        check(re.search(r"GCM|CHACHA20", py.sock.cipher()[0]), "cipher %r" % (py.sock.cipher(),))
        # Two other TLS stacks' command-line clients, on the same session.
        cmds = [["openssl", "s_client", "-quiet", "-connect", "127.0.0.1:%d" % port],
                ["socat", "-", "OPENSSL:127.0.0.1:%d,verify=0" % port]]
        for cmd in cmds:
            p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL)
            os.set_blocking(p.stdout.fileno(), False)
            procs.append(p)
        outs = [bytearray() for _ in procs]

        def read_all(pattern, timeout=10):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for p, buf in zip(procs, outs):
                    try:
                        buf += os.read(p.stdout.fileno(), 65536) or b""
                    except BlockingIOError:
                        pass
                if all(re.search(pattern, bytes(b)) for b in outs):
                    return
                time.sleep(0.05)
            raise TestFailure("raw TLS clients never saw %r: %r" % (pattern, [bytes(b[-200:]) for b in outs]))

        read_all(rb"Password: ")
        for p in procs:
            p.stdin.write(b"pw42\n")
            p.stdin.flush()
        py.wait_for(r"connected at .*\n.*connected at", timeout=10)
        py.send_line("echo typed-over-$((6*7))")
        read_all(rb"typed-over-42")
        procs[1].stdin.write(b"echo from-socat-$((7*7))\n")
        procs[1].stdin.flush()
        py.wait_for(r"from-socat-49")
        read_all(rb"from-socat-49")
        # Identities name the transport.
        check(re.search(rb"\\client\d+ \(ssl 127\.0\.0\.1:\d+\): echo from-socat", py.data),
              "who-typed line: %r" % bytes(py.data[-400:]))
    finally:
        for p in procs:
            p.kill()
            p.wait()
        s.close()


@test
def test_ssl_relay_sees_only_ciphertext(workdir):
    env, crt = tls_env(workdir)
    port = free_port()
    s = start(["ssl:proto=tls1,certuser=srv,port=%d,password=Sesame7" % port], BASH,
              noio=True, env=env)
    relay = Relay(port)
    try:
        c = TLSClient(relay.port)
        c.wait_for(r"Password: ")
        c.send_line("Sesame7")
        c.wait_for(PROMPT)
        c.send_line("echo PLAIN-MARKER-$((20+22)); seq 1 2000")
        c.wait_for(r"PLAIN-MARKER-42(.|\n)*\n2000\r?\n")
        time.sleep(0.2)
        wire = bytes(relay.up) + bytes(relay.down)
        check(len(relay.down) > 8000, "the relay saw %d bytes down" % len(relay.down))
        for plain in (b"Sesame7", b"PLAIN-MARKER", b"Password", b"1999\r\n", b"bash"):
            check(plain not in wire, "plaintext %r crossed the wire" % plain)
        # TLS records only: a handshake record first each way.
        check(relay.up[:1] == b"\x16" and relay.down[:1] == b"\x16",
              "first bytes %r / %r" % (bytes(relay.up[:3]), bytes(relay.down[:3])))
    finally:
        relay.close()
        s.close()


@test
def test_spipe_raw_client_and_identity(workdir):
    env, crt = tls_env(workdir)
    s = Session(["spipe:proto=tls1,certuser=srv,pipe=dbg_%d"], BASH, noio=True, env=env)
    try:
        path = os.path.join(env["RINGSIDE_PIPE_DIR"], "dbg_%d" % s.proc.pid)
        deadline = time.monotonic() + 10
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        check(os.path.exists(path), "no socket at %s" % path)
        a = TLSClient(path=path, cafile=crt)
        a.wait_for(PROMPT)
        p = subprocess.Popen(["openssl", "s_client", "-quiet", "-unix", path],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        try:
            a.wait_for(r"\\root \(spipe dbg_%d pid %d\) connected at" % (s.proc.pid, p.pid)
                       if os.geteuid() == 0 else r"\(spipe dbg_%d pid %d\) connected at"
                       % (s.proc.pid, p.pid))
            p.stdin.write(b"echo via-spipe-$((3*5))\n")
            p.stdin.flush()
            a.wait_for(r"via-spipe-15")
            a.send_line(".servers")
            a.wait_for(r"0 - Debugger Server - spipe:Proto=tls1,CertUser=srv,Pipe=dbg_%d"
                       % s.proc.pid)
        finally:
            p.kill()
            p.wait()
    finally:
        s.close()
    check(not os.path.exists(path), "the socket outlived the session")


def server_error(env, spec):
    """Start ringside with SPEC; it must refuse and exit.  Its stderr."""
    p = subprocess.run([harness.BIN, "-noio", "-server", spec, "--", "true"], env=env,
                       capture_output=True, timeout=10)
    check(p.returncode != 0, "ringside started with %s" % spec)
    return p.stderr.decode()


@test
def test_tls_certificates_found_and_refused(workdir):
    env, crt = tls_env(workdir)
    home = env["HOME"]
    store = os.path.join(home, ".config", "ringside", "certs")
    # A spaced, lowercase thumbprint names the same certificate.
    port = free_port()
    s = start(['ssl:proto=tls1,certuser=%s,port=%d' % (thumbprint(crt), port)], BASH,
              noio=True, env=env)
    try:
        c = TLSClient(port, cafile=crt)
        c.wait_for(PROMPT)
    finally:
        s.close()
    err = server_error(env, "ssl:proto=tls1,certuser=nosuch,port=%d" % free_port())
    check("certuser=nosuch" in err and os.path.join(store, "nosuch.crt") in err,
          "missing cert: %r" % err)
    err = server_error(env, "ssl:proto=tls1,certuser=%s,port=%d"
                       % ("ab " * 19 + "ab", free_port()))
    check(store in err and "not found" in err, "unknown thumbprint: %r" % err)
    err = server_error(env, "ssl:proto=ssl3,certuser=srv,port=%d" % free_port())
    check("ssl3" in err and "proto" in err, "ssl3: %r" % err)
    make_cert(home, "client_only", eku="clientAuth")
    err = server_error(env, "ssl:proto=tls1,certuser=client_only,port=%d" % free_port())
    check("serverAuth" in err or "server authentication" in err, "no serverAuth: %r" % err)
    os.unlink(os.path.join(store, "srv.key"))
    err = server_error(env, "spipe:proto=tls1,certuser=srv,pipe=nokey")
    check("srv.key" in err, "missing key: %r" % err)
    check(not os.listdir(env["RINGSIDE_PIPE_DIR"]), "a pipe was left behind")
    # A key others can read is served, with a warning.
    make_cert(home, "loose", key_mode=0o644)
    port = free_port()
    s = start(["ssl:proto=tls1,certuser=loose,port=%d" % port], BASH, noio=True, env=env)
    try:
        c = TLSClient(port)
        c.wait_for(PROMPT)
        check(re.search(rb"ringside: ssl: .*loose\.key.*(readable|others)", c.data),
              "no warning about the key's mode: %r" % bytes(c.data[:400]))
    finally:
        s.close()


@test
def test_tls_handshake_abuse_is_bounded(workdir):
    env, crt = tls_env(workdir)
    port = free_port()
    s = start(["ssl:proto=tls1,certuser=srv,port=%d" % port], BASH, noio=True, env=env,
              extra=["-maxauth", "3"])
    try:
        # Garbage instead of a ClientHello: closed at once, logged.
        g = socket.create_connection(("127.0.0.1", port), timeout=5)
        g.sendall(b"GET / HTTP/1.0\r\n\r\n" + os.urandom(3000))
        t0 = time.monotonic()
        g.settimeout(5)
        try:
            while g.recv(4096):
                pass
        except ConnectionResetError:
            pass
        check(time.monotonic() - t0 < 3, "garbage held the connection %.1fs" % (time.monotonic() - t0))
        g.close()
        s.wait_log(rb"\(ssl 127\.0\.0\.1:\d+\) dropped: TLS handshake failed")
        # No AEAD suite in common: refused, the session does not care.
        p = subprocess.run(["openssl", "s_client", "-tls1_2", "-cipher", "AES128-SHA",
                            "-connect", "127.0.0.1:%d" % port], input=b"", capture_output=True,
                           timeout=10)
        check(b"Cipher is (NONE)" in p.stdout or p.returncode != 0,
              "non-AEAD suite accepted: %r" % p.stdout[-300:])
        # TLS 1.2 with an AEAD suite is fine.
        check(re.search(rb"tls12-6", s_client(["-tls1_2", "-connect", "127.0.0.1:%d" % port],
                                               b"echo tls12-$((2*3))\n", rb"tls12-6")),
              "TLS 1.2 client")
        # Stalled handshakes hold the authenticating places (-maxauth 3);
        # the next connection is closed at once, then they time out.
        stalled = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
        t0 = time.monotonic()
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        extra.settimeout(3)
        check(extra.recv(100) == b"", "a 4th handshake was let in past -maxauth 3")
        s.wait_log(rb"still authenticating")
        for st in stalled:
            st.settimeout(20)
            check(st.recv(100) == b"", "a stalled handshake got bytes")
        waited = time.monotonic() - t0
        check(8 <= waited <= 15, "stalled handshakes closed after %.1fs (limit 10 s)" % waited)
        s.wait_log(rb"TLS handshake not finished in time")
        # Afterwards a real client gets in.
        c = TLSClient(port)
        c.wait_for(PROMPT)
        c.send_line("echo still-fine-$((8*8))")
        c.wait_for(r"still-fine-64")
    finally:
        s.close()


@test
def test_tls_stalled_reader_is_skipped_whole_records(workdir):
    env, crt = tls_env(workdir)
    port = free_port()
    s = start(["ssl:proto=tls1,certuser=srv,port=%d" % port], BASH, noio=True, env=env,
              extra=["-ring", "256K", "-lag", "128K", "-history", "16K"])
    try:
        typist = TLSClient(port)
        typist.wait_for(PROMPT)
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        staller = TLSClient.__new__(TLSClient)
        staller.sock = ctx.wrap_socket(raw)
        staller.sock.setblocking(False)
        staller.data, staller.eof = bytearray(), False
        staller.wait_for(PROMPT)
        # 2.4 MB: more than the server's kernel may queue for the staller
        # (its send buffer grows on loopback: one run here took all 1.2 MB of
        # a 150,000-line output without being skipped).
        typist.send_line("seq 1 300000; echo done-$((40*40))")
        typist.wait_for(r"done-1600", timeout=60)
        # The staller read nothing meanwhile; now it reads everything. A
        # cut record would fail the TLS layer (eof) before the end marker.
        # Slowly: with its 4 KiB receive buffer each read finds about 4 KiB,
        # about 100 ms after the last (8-25 s in all here); raising SO_RCVBUF
        # at this point did not make it faster.
        staller.wait_for(r"done-1600", timeout=90)
        gaps, last = numbers_in_order(bytes(staller.data), rb"^(\d+)\r?$")
        check(gaps >= 1, "the stalled reader was never skipped ahead")
        check(last == 300000, "last number %r" % last)
        gaps, last = numbers_in_order(bytes(typist.data), rb"^(\d+)\r?$")
        check(last == 300000, "typist last %r" % last)
    finally:
        s.close()


def tls_socket(port, rcvbuf=None):
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    if rcvbuf:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c = TLSClient.__new__(TLSClient)
    c.sock = ctx.wrap_socket(raw)
    c.sock.setblocking(False)
    c.data, c.eof = bytearray(), False
    return c


def reset(sock):
    """Close with a reset, whatever the server is sending."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


@test
def test_tls_stress_stall_resume_reset(workdir):
    """For the ASan build: TLS readers that stall and resume (skipped ahead
    while ciphertext is on the wire), connections reset mid-record and
    mid-handshake, while the session prints fast through a small ring."""
    import random
    rng = random.Random(11)
    env, crt = tls_env(workdir)
    port = free_port()
    s = start(["ssl:proto=tls1,certuser=srv,port=%d" % port], BASH, noio=True, env=env,
              extra=["-ring", "256K", "-lag", "128K", "-history", "16K"])
    try:
        typist = TLSClient(port)
        typist.wait_for(PROMPT)
        typist.send_line("for r in $(seq 1 150); do seq $((r*100000)) $((r*100000+2000)); "
                         "sleep 0.05; done; echo stress-$((6*7))")
        stallers = [tls_socket(port, rcvbuf=4096) for _ in range(6)]
        wake = [time.monotonic() + rng.uniform(0.5, 2) for _ in stallers]
        readers = [TLSClient(port) for _ in range(3)]
        resets = halfway = 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = time.monotonic()
            for i, c in enumerate(stallers):
                if now >= wake[i]:
                    end = now + rng.uniform(0.05, 0.3)
                    while time.monotonic() < end:
                        c.pump(0.01)
                    wake[i] = time.monotonic() + rng.uniform(0.5, 2)
            for c in readers:
                c.pump(0)
            try:
                c = tls_socket(port, rcvbuf=4096)
                c.pump(0.005)
                reset(c.sock)
                resets += 1
                # Half a ClientHello, then a reset.
                h = socket.create_connection(("127.0.0.1", port), timeout=5)
                h.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(40))
                reset(h)
                halfway += 1
            except OSError:
                pass
            time.sleep(0.02)
        typist.wait_for(r"stress-42", timeout=120)
        for c in readers:
            deadline = time.monotonic() + 30
            while b"stress-42" not in c.data and time.monotonic() < deadline and not c.eof:
                c.pump(0.1)
            numbers_in_order(c.data)
            check(b"stress-42" in c.data, "a reader never saw the end")
        for c in stallers:
            c.pump(0.05)
            check(not c.eof, "a stalled TLS reader lost its connection (a cut record?)")
            numbers_in_order(c.data)
        typist.send_line(".stats")
        typist.wait_for(r"ringside stats: clients=(\d+) [^\r]*copied=0")
        check(resets > 50 and halfway > 50, "the stress did little: %d resets" % resets)
    finally:
        s.close()   # fails the test on any sanitizer report
