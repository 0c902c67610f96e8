# SPDX-License-Identifier: MIT
# The ringside client over ssl and spipe: which servers it believes (a pinned
# certificate, fingerprint=, known_servers, the user's answer on a terminal),
# that a wrong or unknown server is refused at once and never retried, and
# the native protocol inside TLS: commands, passwords, resuming after a cut,
# with a recording relay showing no plaintext on the wire.  openssl s_server
# stands in for a server wherever only the TLS decision matters.
import os
import re
import shutil
import subprocess
import tempfile
import time

import harness
from harness import BASH, Relay, Session, TestFailure, check, check_clean, free_port, test, wait_listening

PROMPT = rb"bash-[\d.]+[#$] "


def make_home(workdir, certs=("srv", "other"), public_only=False):
    """A HOME whose user store holds self-signed P-256 server certificates.
    PUBLIC_ONLY leaves the keys out: what a client needs."""
    home = tempfile.mkdtemp(prefix="home-", dir=workdir)
    store = os.path.join(home, ".config", "ringside", "certs")
    os.makedirs(store)
    for name in certs:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "365", "-subj",
                        "/CN=" + name, "-addext", "extendedKeyUsage=serverAuth",
                        "-keyout", os.path.join(store, name + ".key"),
                        "-out", os.path.join(store, name + ".crt")],
                       check=True, capture_output=True)
        os.chmod(os.path.join(store, name + ".key"), 0o600)
    pipes = os.path.join(home, "pipes")
    os.mkdir(pipes, 0o700)
    return home, store, dict(os.environ, HOME=home, RINGSIDE_PIPE_DIR=pipes)


def client_home(workdir, server_store, names=("srv",)):
    """A client's HOME with only the public certificates NAMES copied over."""
    home = tempfile.mkdtemp(prefix="client-", dir=workdir)
    store = os.path.join(home, ".config", "ringside", "certs")
    os.makedirs(store)
    for name in names:
        shutil.copy(os.path.join(server_store, name + ".crt"), store)
    return home, dict(os.environ, HOME=home)


def fingerprint(crt):
    """openssl's "AB:CD:..." form and ringside's "sha256:abcd..." form."""
    out = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-fingerprint", "-sha256"],
                         capture_output=True, text=True, check=True).stdout
    colons = out.strip().split("=", 1)[1]
    return colons, "sha256:" + colons.replace(":", "").lower()


class SServer:
    """openssl s_server presenting CERT on a free port, with a relay in front
    that counts connections.  Its stdout is what clients sent, decrypted."""

    def __init__(self, store, cert):
        self.port = free_port()
        self.out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-quiet", "-accept", "127.0.0.1:%d" % self.port,
             "-cert", os.path.join(store, cert + ".crt"),
             "-key", os.path.join(store, cert + ".key")],
            stdin=subprocess.PIPE, stdout=self.out, stderr=subprocess.DEVNULL)
        wait_listening(self.port)
        self.relay = Relay(self.port)

    def received(self):
        self.out.seek(0)
        return self.out.read()

    def connections(self):
        return len(self.relay.conns)

    def close(self):
        self.relay.close()
        self.proc.kill()
        self.proc.wait()
        self.out.close()


PREAMBLE = b"\0RINGSD\x02"


def run_client(spec, env, stdin=b"", timeout=30, quiet_ms=300):
    try:
        r = subprocess.run([harness.BIN, "-remote", spec, "-quiet", str(quiet_ms)], input=stdin,
                           capture_output=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise TestFailure("client still running after %ss; stderr %r"
                          % (timeout, (e.stderr or b"")[-400:]))
    check_clean(r.stderr, "client")
    return r.returncode, r.stdout, r.stderr


def accepted_by(server, spec, env, what):
    """The client trusted SERVER: its preamble arrived inside TLS.  (s_server
    speaks no protocol, so the client is stopped there.)"""
    p = subprocess.Popen([harness.BIN, "-remote", spec], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 10
        while PREAMBLE not in server.received():
            if p.poll() is not None or time.monotonic() > deadline:
                raise TestFailure("%s: the client never sent its preamble (exit %r): %r"
                                  % (what, p.poll(), p.stderr.read() if p.poll() is not None
                                     else b""))
            time.sleep(0.05)
    finally:
        p.kill()
        p.wait()
        p.stdin.close()
        p.stdout.close()
        p.stderr.close()


def refused_once(server, spec, env, want, what):
    """A refusal: exit 1 within seconds, WANT on stderr, one connection only
    (no retry loop), and no protocol byte reached the server."""
    t0 = time.monotonic()
    rc, out, err = run_client(spec, env, timeout=20)
    err = err.decode(errors="replace")
    took = time.monotonic() - t0
    check(rc == 1, "%s: exit %d, stderr %r" % (what, rc, err))
    check(took < 5, "%s: a refusal took %.1f s" % (what, took))
    for pattern in want:
        check(re.search(pattern, err), "%s: stderr lacks %r: %r" % (what, pattern, err))
    time.sleep(1.5)     # a retry with backoff would have come by now
    check(server.connections() == 1, "%s: %d connections, expected 1 (retried?)"
          % (what, server.connections()))
    check(PREAMBLE not in server.received(), "%s: the refused server got the preamble" % what)
    return err


@test
def test_tls_client_pinned_certificate(workdir):
    _, store, _ = make_home(workdir)
    chome, cenv = client_home(workdir, store, ("srv", "other"))
    _, fp_other = fingerprint(os.path.join(store, "other.crt"))
    _, fp_srv = fingerprint(os.path.join(store, "srv.crt"))
    good = SServer(store, "srv")
    bad = SServer(store, "srv")
    try:
        # The client's store has the public certificate only.
        accepted_by(good, "ssl:proto=tls1,certuser=srv,server=127.0.0.1,port=%d"
                    % good.relay.port, cenv, "pinned srv")
        err = refused_once(bad, "ssl:proto=tls1,certuser=other,server=127.0.0.1,port=%d"
                           % bad.relay.port, cenv,
                           [r"the server at 127\.0\.0\.1 port %d did not present certificate "
                            r"other \(%s\); not connecting" % (bad.relay.port, fp_other),
                            fp_srv], "pin mismatch")
        check("reconnecting" not in err, "a pin mismatch was retried: %r" % err)
        # A missing certificate names where it was looked for; nothing connects.
        rc, _, err = run_client("ssl:proto=tls1,certuser=nosuch,server=127.0.0.1,port=%d"
                                % good.relay.port, cenv)
        check(rc == 2 and os.path.join(chome, ".config/ringside/certs/nosuch.crt").encode()
              in err, "missing certificate: exit %d, %r" % (rc, err))
        # WinDbg's other protocols are refused by name.
        rc, _, err = run_client("ssl:proto=ssl3,certuser=srv,server=127.0.0.1,port=1", cenv)
        check(rc == 2 and b"proto=ssl3: refused" in err, "proto=ssl3: %d %r" % (rc, err))
    finally:
        good.close()
        bad.close()


@test
def test_tls_client_fingerprint_spec(workdir):
    _, store, _ = make_home(workdir)
    _, cenv = client_home(workdir, store, ())
    colons, fp = fingerprint(os.path.join(store, "srv.crt"))
    _, fp_other = fingerprint(os.path.join(store, "other.crt"))
    good = SServer(store, "srv")
    bad = SServer(store, "other")
    try:
        # As openssl prints it, and as ringside does.
        accepted_by(good, "ssl:proto=tls1,server=127.0.0.1,port=%d,fingerprint=%s"
                    % (good.relay.port, colons), cenv, "fingerprint= (openssl form)")
        accepted_by(good, "ssl:proto=tls1,server=127.0.0.1,port=%d,fingerprint=%s"
                    % (good.relay.port, fp), cenv, "fingerprint= (ringside form)")
        refused_once(bad, "ssl:proto=tls1,server=127.0.0.1,port=%d,fingerprint=%s"
                     % (bad.relay.port, fp), cenv,
                     [r"presented certificate %s, not %s" % (fp_other, fp)], "fingerprint=")
    finally:
        good.close()
        bad.close()


@test
def test_tls_client_known_servers(workdir):
    _, store, _ = make_home(workdir)
    chome, cenv = client_home(workdir, store, ())
    known = os.path.join(chome, ".config", "ringside", "known_servers")
    _, fp = fingerprint(os.path.join(store, "srv.crt"))
    _, fp_other = fingerprint(os.path.join(store, "other.crt"))
    srv = SServer(store, "srv")
    try:
        key = "127.0.0.1:%d" % srv.relay.port
        spec = "ssl:proto=tls1,server=127.0.0.1,port=%d" % srv.relay.port
        # Unknown, no terminal: refused with the fingerprint and how to trust it.
        err = refused_once(srv, spec, cenv,
                           [re.escape("%s %s" % (key, fp)), "fingerprint=" + fp,
                            "never trusted"], "unknown server, scripted")
        check(not os.path.exists(known), "a script's client wrote known_servers")
        # The line it suggested, added by hand, is trusted.
        with open(known, "w") as f:
            f.write("# servers I checked\n%s %s\n" % (key, fp))
        accepted_by(srv, spec, cenv, "known_servers match")
    finally:
        srv.close()
    # Changed: refused loudly, both fingerprints and the line shown.
    srv = SServer(store, "srv")
    try:
        key = "127.0.0.1:%d" % srv.relay.port
        with open(known, "w") as f:
            f.write("# servers I checked\n\n%s %s\n" % (key, fp_other))
        refused_once(srv, "ssl:proto=tls1,server=127.0.0.1,port=%d" % srv.relay.port, cenv,
                     ["HAS CHANGED", "it presented " + fp, "line 3 of %s says %s"
                      % (re.escape(known), fp_other)], "changed certificate")
        with open(known) as f:
            check(f.read() == "# servers I checked\n\n%s %s\n" % (key, fp_other),
                  "known_servers was rewritten")
    finally:
        srv.close()


# ---- against ringside's own ssl and spipe servers ---------------------------


def start_tls(spec, env, program=BASH):
    s = Session([spec], program, noio=True, env=env)
    m = re.search(r"port=(\d+)", spec)
    if m:
        wait_listening(int(m.group(1)))
    return s


@test
def test_tls_client_native_ssl_session(workdir):
    _, store, senv = make_home(workdir)
    _, cenv = client_home(workdir, store)
    port = free_port()
    s = start_tls("ssl:proto=tls1,certuser=srv,port=%d,password=Se4cret" % port, senv)
    relay = Relay(port)
    try:
        spec = "ssl:proto=tls1,certuser=srv,server=127.0.0.1,port=%d" % relay.port
        rc, out, err = run_client(spec + ",password=Se4cret", cenv,
                                  stdin=b"echo over-tls-$((6*7))\n")
        check(rc == 0 and b"over-tls-42" in out, "ssl client: exit %d, out %r, err %r"
              % (rc, out[-300:], err))
        check(re.search(rb"\\\S+ \(ssl 127\.0\.0\.1:\d+\): echo over-tls", out),
              "no identity naming ssl: %r" % out[-400:])
        rc, out, err = run_client(spec + ",password=Wrong1", cenv, stdin=b"echo no\n")
        check(rc == 1 and b"wrong password" in err, "wrong password: %d %r" % (rc, err))
        wire = bytes(relay.up) + bytes(relay.down)
        for plain in (b"over-tls", b"RINGSD", b"wrong password", b"Se4cret", b"bash"):
            check(plain not in wire, "%r crossed the wire in clear" % plain)
    finally:
        relay.close()
        s.close()


@test
def test_tls_client_native_spipe_session(workdir):
    _, store, senv = make_home(workdir)
    s = start_tls("spipe:proto=tls1,certuser=srv,pipe=tlsdbg_%d", senv)
    try:
        path = None
        deadline = time.monotonic() + 10
        while not path and time.monotonic() < deadline:
            names = os.listdir(senv["RINGSIDE_PIPE_DIR"])
            path = names[0] if names else None
            time.sleep(0.05)
        check(path, "the spipe server made no socket")
        rc, out, err = run_client("spipe:proto=tls1,certuser=srv,server=.,pipe=%s" % path, senv,
                                  stdin=b"echo over-spipe-$((5*5))\n")
        check(rc == 0 and b"over-spipe-25" in out, "spipe client: exit %d, out %r, err %r"
              % (rc, out[-300:], err))
        check(re.search(rb"\(spipe %s pid \d+\): echo over-spipe" % path.encode(), out),
              "no spipe identity: %r" % out[-400:])
        # Pinned to the wrong certificate: refused, even on this machine.
        rc, out, err = run_client("spipe:proto=tls1,certuser=other,server=.,pipe=%s" % path,
                                  senv, stdin=b"echo never\n")
        check(rc == 1 and b"did not present certificate other" in err,
              "spipe pin mismatch: %d %r" % (rc, err))
        # Unknown to known_servers, no terminal: refused, keyed by the pipe's name.
        rc, out, err = run_client("spipe:proto=tls1,server=.,pipe=%s" % path, senv)
        check(rc == 1 and (r"\\.\pipe\%s sha256:" % path).encode() in err,
              "spipe unknown server: %d %r" % (rc, err))
    finally:
        s.close()


class ExactlyOnce:
    def __init__(self, last):
        self.last = last

    def check(self, data):
        nums = [int(x) for x in re.findall(rb"(?m)^(\d+)\r?$", data)]
        if nums != list(range(1, self.last + 1)):
            missing = sorted(set(range(1, self.last + 1)) - set(nums))[:5]
            raise TestFailure("%d numbers, missing %s" % (len(nums), missing))


@test
def test_tls_client_resumes_after_a_cut(workdir):
    _, store, senv = make_home(workdir)
    _, cenv = client_home(workdir, store)
    port = free_port()
    s = start_tls("ssl:proto=tls1,certuser=srv,port=%d,password=Pw1" % port, senv)
    relay = Relay(port, cut_after=120000)
    try:
        rc, out, err = run_client("ssl:proto=tls1,certuser=srv,server=127.0.0.1,port=%d,"
                                  "password=Pw1" % relay.port, cenv,
                                  stdin=b"seq 1 30000; echo ALL-$((1+1))-DONE\n", timeout=60,
                                  quiet_ms=3000)
        check(relay.cuts == 1, "the relay never cut the connection")
        check(rc == 0, "exit %d: %r" % (rc, err[-300:]))
        check(b"reconnecting" in err, "no word of the reconnect: %r" % err[-300:])
        check(len(relay.conns) >= 2, "no second connection")
        check(b"ALL-2-DONE" in out, "never saw the end: %r" % out[-200:])
        ExactlyOnce(30000).check(out)
        check(b"seq 1 30000" not in bytes(relay.up), "the command crossed in clear")
    finally:
        relay.close()
        s.close()


# ---- a user on a terminal ---------------------------------------------------


class Tmux:
    def __init__(self, name, command, env):
        if not shutil.which("tmux"):
            raise TestFailure("tmux is not installed (make deps installs it)")
        self.name = name
        self.base = ["tmux", "-L", name]
        subprocess.run(self.base + ["kill-server"], capture_output=True)
        subprocess.run(self.base + ["new-session", "-d", "-s", name, "-x", "200", "-y", "50",
                                    command], check=True, env=env)

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


def tofu_in_tmux(workdir, tag, cut=False, password=""):
    """A user meets an unknown ssl server on a terminal, reads the fingerprint,
    says yes and runs a command.  With CUT the connection breaks while the
    user is deciding (as when a server gives up waiting)."""
    _, store, senv = make_home(workdir)
    chome, cenv = client_home(workdir, store, ())
    known = os.path.join(chome, ".config", "ringside", "known_servers")
    _, fp = fingerprint(os.path.join(store, "srv.crt"))
    port = free_port()
    pw = ",password=%s" % password if password else ""
    s = start_tls("ssl:proto=tls1,certuser=srv,port=%d%s" % (port, pw), senv)
    relay = Relay(port)
    port = relay.port
    cmd = ("%s -remote ssl:proto=tls1,server=127.0.0.1,port=%d%s; echo CLIENT-EXIT-$?; sleep 60"
           % (harness.BIN, port, pw))
    tm = Tmux("ringside-tofu-%s-%d" % (tag, os.getpid()), cmd, cenv)
    try:
        tm.wait(re.escape("its certificate's SHA-256 fingerprint is " + fp))
        tm.wait(r"(?m)^Trust this server and remember it\? \(yes/no\)\s*$")
        tm.type("maybe")
        tm.keys("Enter")
        tm.wait(r"(?m)^Please type 'yes', 'no' or the fingerprint:\s*$")
        if cut:
            relay.cut()
            time.sleep(0.5)
        tm.type("yes")
        tm.keys("Enter")
        tm.wait(re.escape("added 127.0.0.1:%d %s to %s" % (port, fp, known)))
        tm.wait(PROMPT.decode())
        tm.type("echo tofu-$((20+3))")
        tm.keys("Enter")
        tm.wait(r"(?m)^tofu-23$")
        with open(known) as f:
            check(f.read() == "127.0.0.1:%d %s\n" % (port, fp), "known_servers is wrong")
        # Remembered: a script is let in now, without a question.
        rc, out, err = run_client("ssl:proto=tls1,server=127.0.0.1,port=%d%s" % (port, pw),
                                  cenv, stdin=b"echo script-$((1+1))\n")
        check(rc == 0 and b"script-2" in out, "after trusting: %d %r %r" % (rc, out[-200:], err))
        tm.keys("C-b", "Enter")
        tm.wait(r"CLIENT-EXIT-0")
        return tm.screen(), len(relay.conns)
    finally:
        tm.close()
        relay.close()
        s.close()


@test
def test_tls_client_trust_on_first_use_in_tmux(workdir):
    tofu_in_tmux(workdir, "quick")


@test
def test_tls_client_connection_breaks_while_the_user_decides(workdir):
    # The user's yes after the connection broke gets a new connection, which
    # known_servers now vouches for; the password goes only to that one.
    screen, conns = tofu_in_tmux(workdir, "cut", cut=True, password="Pw2")
    check(re.search(r"(?m)^\[ringside: connecting again\]", screen),
          "no new connection was announced:\n" + screen[-2000:])
    # (The relay forgets the connections it cut.)
    check(conns == 2, "%d connections after the cut: expected the new one and the script's"
          % conns)
    check(not re.search(r"before the handshake was over|not connecting", screen),
          "the client gave up:\n" + screen[-2000:])
