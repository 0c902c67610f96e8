# SPDX-License-Identifier: MIT
# Discovery: `ringside -QR` lists exactly the non-hidden servers of every
# session on the machine, forgets a server ended with .endsrv and a session
# killed with SIGKILL, and prints specs that paste into -remote.
import os
import re
import signal
import subprocess
import tempfile
import time

import harness
from harness import BASH, Session, check, free_port, test, wait_listening


def qr(env, *args):
    p = subprocess.run([harness.BIN, "-QR"] + list(args), env=env, capture_output=True,
                       timeout=20)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def wait_listed(env, pattern, present=True, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        rc, out, _ = qr(env)
        if bool(re.search(pattern, out, re.M)) == present:
            return out
        if time.monotonic() > deadline:
            raise harness.TestFailure("-QR %s %r:\n%s" % ("never listed" if present else
                                                          "still lists", pattern, out))
        time.sleep(0.1)


@test
def test_qr_lists_live_non_hidden_servers(workdir):
    pipes = tempfile.mkdtemp(prefix="pipes-", dir=workdir)
    os.chmod(pipes, 0o700)
    env = dict(os.environ, RINGSIDE_PIPE_DIR=pipes)
    p1, p2, p3, lo = free_port(), free_port(), free_port(), free_port()
    a = Session(["tcp:port=%d" % p1, "tcp:port=%d,hidden" % p2,
                 "npipe:pipe=disc_%d,password=x1"], BASH, env=env)
    b = Session(["tcp:port=%d,password=pw9" % p3, "npipe:pipe=hid_%d,hidden",
                 "tcp:port=%d:%d" % (lo, lo + 3)], BASH, noio=True, env=env)
    try:
        for port in (p1, p2, p3, lo):
            wait_listening(port)
        out = wait_listed(env, r"^Debugger Server - npipe:Pipe=disc_%d,Password=\*,Server=\S+$"
                          % a.proc.pid)
        check(re.match(r"Servers on \\\\\S+:\n", out), "header: %r" % out[:60])
        host = re.match(r"Servers on \\\\(\S+):", out).group(1)
        mine = [l for l in out.splitlines()
                if re.search(r"Port=(%d|%d|%d)\b|disc_%d|hid_%d|Port=%d:" %
                             (p1, p2, p3, a.proc.pid, b.proc.pid, lo), l)]
        want = sorted([
            "Debugger Server - tcp:Port=%d,Server=%s" % (p1, host),
            "Debugger Server - npipe:Pipe=disc_%d,Password=*,Server=%s" % (a.proc.pid, host),
            "Debugger Server - tcp:Port=%d,Password=*,Server=%s" % (p3, host),
            "Debugger Server - tcp:Port=%d:%d,Server=%s" % (lo, lo + 3, host),
        ])
        check(sorted(mine) == want, "-QR listed:\n%s\nwant:\n%s" % ("\n".join(mine), "\n".join(want)))

        # The listing pastes into -remote (with the password for the *).
        spec = re.search(r"^Debugger Server - (npipe:Pipe=disc_%d,Password=)\*(,Server=\S+)$"
                         % a.proc.pid, out, re.M)
        r = subprocess.run([harness.BIN, "-remote", spec.group(1) + "x1" + spec.group(2),
                            "-quiet", "500"], input=b".echo pasted-$((1+1))-ok\n", env=env,
                           capture_output=True, timeout=30)
        check(b"pasted-$((1+1))-ok" in r.stdout, "pasted spec: rc %d, %r %r"
              % (r.returncode, r.stdout[-300:], r.stderr[-300:]))

        # .endsrv takes a server off the list at once.
        a.console_type(".endsrv 0")
        wait_listed(env, r"tcp:Port=%d,Server" % p1, present=False)

        # A session killed outright disappears, and its record is pruned.
        rec = [f for f in os.listdir("/run/ringside") if f.startswith(".session-%d-" % b.proc.pid)] \
            if os.geteuid() == 0 else []
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait()
        wait_listed(env, r"Port=%d,Password" % p3, present=False)
        if rec:
            check(not os.path.exists(os.path.join("/run/ringside", rec[0])),
                  "the killed session's record is still there")

        # -QR stands alone.
        rc, _, err = qr(env, "-noio")
        check(rc == 2 and "only option" in err, "-QR -noio: rc %d %r" % (rc, err))
    finally:
        a.close()
        b.close()
    rc, out, _ = qr(env)
    check("disc_%d" % a.proc.pid not in out, "an ended session is still listed:\n%s" % out)
