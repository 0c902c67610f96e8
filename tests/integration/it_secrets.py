# SPDX-License-Identifier: MIT
# Passwords and the process list: a password= value is blanked in ringside's
# own /proc/PID/cmdline once parsed (server and -remote sides), the hosted
# program's arguments are left alone, and passfile= / passenv= give the
# password without ever putting it on a command line.
import os
import re
import subprocess

import harness
from harness import Client, Session, check, free_port, test, wait_listening

BASH = ["bash", "--norc", "--noprofile", "-i"]
PROMPT = r"[$#] "
WRONG = r"Error 0x80004005: wrong password\r\nPassword: "
CONNECTED = r"\\client\d+ \(tcp 127\.0\.0\.1:\d+\) connected at"


def start(spec, program=BASH, env=None):
    s = Session([spec], program, env=env)
    wait_listening(int(re.search(r"port=(\d+)", spec).group(1)))
    return s


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read()


def write_secret(workdir, name, content, mode=0o600):
    path = os.path.join(workdir, name)
    with open(path, "wb") as f:
        f.write(content)
    os.chmod(path, mode)
    return path


def check_raw_auth(port, right, wrong):
    """A raw client is asked, refused with WRONG, then let in with RIGHT."""
    c = Client(port)
    try:
        c.wait_for(r"^Password: ")
        c.send_line(wrong)
        c.wait_for(WRONG, timeout=5)
        check(b"connected at" not in c.data, "let in with a wrong password")
        c.send_line(right)
        c.wait_for(CONNECTED)
        c.send_line("echo in-$((6*7))")
        c.wait_for(r"in-42")
    finally:
        c.close()


def remote_run(spec, script=b"echo authed-$((2+3))\n", env=None):
    """`ringside -remote SPEC` with a script on stdin (not a terminal)."""
    return subprocess.run([harness.BIN, "-remote", spec], input=script, capture_output=True,
                          timeout=30, env=env)


@test
def test_server_password_scrubbed_from_cmdline(workdir):
    port = free_port()
    # bash -s: the words after it are the shell's $1..., so the program gets a
    # password= argument of its own, which must be left as it is.
    s = start("tcp:port=%d,password=abc123" % port, BASH + ["-s", "password=keepme"])
    try:
        words = cmdline(s.proc.pid).split(b"\0")
        check(b"abc123" not in b"\0".join(words), "password readable: %r" % words)
        spec = words[words.index(b"-server") + 1]
        check(spec == b"tcp:port=%d,password=******" % port, "scrubbed spec %r" % spec)
        check(words[-3:] == [b"-s", b"password=keepme", b""],
              "the program's words changed: %r" % words)
        # The server kept its own copy: the password still works.
        check_raw_auth(port, "abc123", "abc124")
        c = Client(port)
        c.wait_for(r"^Password: ")
        c.send_line("abc123")
        c.wait_for(CONNECTED)
        c.send_line('echo "arg=$1"')
        c.wait_for(r"arg=password=keepme")
        c.close()
        s.pump()
        check(b"abc123" not in s.stderr, "password on stderr")
    finally:
        s.close()


@test
def test_server_passfile(workdir):
    port = free_port()
    path = write_secret(workdir, "server-pw", b"Pfile12\r\nsecond line\n")
    s = start("tcp:port=%d,passfile=%s" % (port, path))
    try:
        check_raw_auth(port, "Pfile12", "second")
        check(b"Pfile12" not in cmdline(s.proc.pid), "password on the command line")
        c = Client(port)
        c.wait_for(r"^Password: ")
        c.send_line("Pfile12")
        c.wait_for(CONNECTED)
        # A password from a file shows like any other.
        c.send_line(".servers")
        c.wait_for(r"0 - Debugger Server - tcp:Port=%d,Password=\*\r\n" % port)
        check(path.encode() not in c.data, "the listing shows the file")
        c.close()
    finally:
        s.close()


@test
def test_server_passenv(workdir):
    port = free_port()
    env = dict(os.environ, RS_IT_SERVER_PW="Penv34")
    s = start("tcp:port=%d,passenv=RS_IT_SERVER_PW" % port, env=env)
    try:
        check_raw_auth(port, "Penv34", "penv34")
        check(b"Penv34" not in cmdline(s.proc.pid), "password on the command line")
    finally:
        s.close()


@test
def test_password_source_errors(workdir):
    secret = write_secret(workdir, "not-a-password", b"Secret!!\n")
    env = dict(os.environ, RS_IT_BAD="Secret!!")
    env.pop("RS_IT_UNSET", None)
    cases = [
        (["-server", "tcp:port=1,passfile=/nonexistent/pw", "--", "true"],
         r"tcp: passfile=/nonexistent/pw: cannot open: No such file or directory"),
        (["-server", "tcp:port=1,passfile=%s" % workdir, "--", "true"],
         r"passfile=.*: not a regular file"),
        (["-server", "tcp:port=1,passfile=/dev/stdin", "--", "true"],
         r"passfile=/dev/stdin: not a regular file"),
        (["-server", "tcp:port=1,passfile=%s" % secret, "--", "true"],
         r"passfile=.*: the first line is not a password \(1-12 letters and digits\)"),
        (["-server", "tcp:port=1,passenv=RS_IT_UNSET", "--", "true"],
         r"passenv=RS_IT_UNSET: \$RS_IT_UNSET is not set"),
        (["-server", "tcp:port=1,passenv=RS_IT_BAD", "--", "true"],
         r"\$RS_IT_BAD is not a password"),
        (["-server", "tcp:port=1,password=abc,passenv=RS_IT_BAD", "--", "true"],
         r"tcp: password= and passenv= together: expected one of them"),
        (["-remote", "tcp:server=127.0.0.1,port=1,passfile=/nonexistent/pw"],
         r"-remote: tcp: passfile=/nonexistent/pw: cannot open"),
        (["-remote", "tcp:server=127.0.0.1,port=1,passenv=RS_IT_UNSET"],
         r"-remote: tcp: passenv=RS_IT_UNSET: \$RS_IT_UNSET is not set"),
    ]
    for args, want in cases:
        # stdin is a pipe nobody writes to: passfile=/dev/stdin must not wait on it.
        r = subprocess.run([harness.BIN] + args, capture_output=True, timeout=10,
                           stdin=subprocess.PIPE, env=env)
        check(r.returncode != 0, "%s exited 0" % args)
        check(re.search(want.encode(), r.stderr), "%s: stderr %r lacks %r" % (args, r.stderr, want))
        check(b"Secret" not in r.stderr, "%s: a password was echoed: %r" % (args, r.stderr))


@test
def test_native_client_passfile_and_passenv(workdir):
    port = free_port()
    s = start("tcp:port=%d,password=Cl1ent" % port)
    try:
        via = "tcp:server=127.0.0.1,port=%d" % port
        right = write_secret(workdir, "client-pw", b"Cl1ent\n")
        r = remote_run(via + ",passfile=" + right)
        check(r.returncode == 0 and b"authed-5" in r.stdout,
              "passfile: exit %d %r %r" % (r.returncode, r.stdout[-200:], r.stderr))
        r = remote_run(via + ",passenv=RS_IT_CLIENT_PW",
                       env=dict(os.environ, RS_IT_CLIENT_PW="Cl1ent"))
        check(r.returncode == 0 and b"authed-5" in r.stdout,
              "passenv: exit %d %r %r" % (r.returncode, r.stdout[-200:], r.stderr))
        wrong = write_secret(workdir, "client-wrong", b"cl1ent\n")
        r = remote_run(via + ",passfile=" + wrong, script=b"echo nope\n")
        check(r.returncode != 0, "wrong password from a file accepted")
        check(b"Error 0x80004005: wrong password" in r.stderr, "stderr %r" % r.stderr)
    finally:
        s.close()


@test
def test_native_client_password_scrubbed_from_cmdline(workdir):
    import select
    port = free_port()
    s = start("tcp:port=%d,password=Cl1ent" % port)
    p = subprocess.Popen([harness.BIN, "-remote",
                          "tcp:server=127.0.0.1,password=Cl1ent,port=%d" % port],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Output from the session means the command line was parsed long ago.
        p.stdin.write(b"echo joined-$((3*3))\n")
        p.stdin.flush()
        seen = b""
        while b"joined-9" not in seen:
            ready, _, _ = select.select([p.stdout], [], [], 10)
            check(ready, "the client never showed the session: %r" % seen[-200:])
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                raise harness.TestFailure("the client left: %r" % p.stderr.read())
            seen += chunk
        words = cmdline(p.pid).split(b"\0")
        check(b"Cl1ent" not in b"\0".join(words), "password readable: %r" % words)
        check(words[2] == b"tcp:server=127.0.0.1,password=******,port=%d" % port,
              "scrubbed spec %r" % words[2])
    finally:
        p.stdin.close()
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        s.close()


@test
def test_passenv_not_inherited_and_shared_passfile_warns(workdir):
    port = free_port()
    env = dict(os.environ, RS_IT_SERVER_PW="Penv34")
    s = start("tcp:port=%d,passenv=RS_IT_SERVER_PW" % port, env=env)
    try:
        c = Client(port)
        c.wait_for(r"^Password: ")
        c.send_line("Penv34")
        c.wait_for(CONNECTED)
        c.send_line('echo "inherited=[${RS_IT_SERVER_PW-unset}]"')
        c.wait_for(r"inherited=\[unset\]")
        shared = write_secret(workdir, "shared-pw", b"Sh4red\n", 0o644)
        c.send_line(".server tcp:port=%d,passfile=%s" % (free_port(), shared))
        c.wait_for(r"ringside: tcp: passfile=.*: other users can read or change the file "
                   r"\(mode 0644, chmod go-rw fixes that\)")
        check(b"Sh4red" not in c.data, "the password reached the transcript")
        c.close()
    finally:
        s.close()
