# SPDX-License-Identifier: MIT
# Integration tests for libringside as a library: the two examples (built by `make examples`
# against a staged install through pkg-config) and a Python host through ctypes, each reached
# by nc and by `ringside -remote`.
import os
import subprocess
import sys
import tempfile
import time

import harness
from harness import BASH, Client, TestFailure, check, free_port, test, wait_listening


def build_dir():
    return os.path.dirname(os.path.abspath(harness.BIN))


def example(name):
    path = os.path.join(build_dir(), "examples", name)
    check(os.access(path, os.X_OK), "%s is not built (make examples)" % path)
    return path


class Host:
    """A host program that serves PORT; its stdout and stderr are kept."""

    def __init__(self, args, port, env=None):
        self.out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT, env=env)
        wait_listening(port)

    def text(self):
        self.out.flush()
        self.out.seek(0)
        return self.out.read()

    def wait_for(self, needle, timeout=10):
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise TestFailure("host never printed %r; it printed %r"
                                  % (needle, self.text()[-600:]))
            time.sleep(0.05)

    def wait_exit(self, timeout=10):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("host still running after %ss: %r" % (timeout, self.text()[-400:]))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


def remote(port, script, timeout=30):
    """`ringside -remote` with SCRIPT on stdin, to completion."""
    r = subprocess.run([harness.BIN, "-remote", "tcp:server=127.0.0.1,port=%d" % port,
                        "-quiet", "500"], input=script, capture_output=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def ticking_host(args, port, tick, answer, status, env=None):
    """What every pty-less host must do: tick for nc and for the native client, take their
    commands, end on `stop` with STATUS."""
    host = Host(args, port, env)
    try:
        nc = Client(port)
        nc.wait_for(tick + rb" \d+\r\n")
        nc.send_line("hello from nc")
        nc.wait_for(rb"\\client\d+ \(tcp 127\.0\.0\.1:\d+\): hello from nc\r\n")
        if answer:
            nc.wait_for(answer + rb"hello from nc\r\n")
        host.wait_for(b"hello from nc")
        host.wait_for(b"joined: ")
        code, out, err = remote(port, b"hello from remote\nstop\n")
        check(code == 0, "ringside -remote exited %d: %r" % (code, err[-300:]))
        check(tick in out, "the native client saw no tick: %r" % out[-300:])
        check(b"hello from remote" in host.text(), "host never got the native client's line")
        check(b"ringside: the session has ended" in out,
              "the native client was not told of the end: %r" % out[-300:])
        nc.wait_for(rb"ringside: the session has ended")
        nc.wait_eof()
        got = host.wait_exit()
        check(got == status, "host exited %d, want %d: %r" % (got, status, host.text()[-600:]))
        for marker in (b"AddressSanitizer", b"runtime error:"):
            check(marker not in host.text(), "sanitizer report: %r" % host.text()[-1200:])
    finally:
        host.close()


@test
def test_embed_host_example(workdir):
    port = free_port()
    ticking_host([example("host"), str(port)], port, b"tick", None, 0)


def sanitizer_env(lib):
    """A library built with SANITIZE=1 needs its runtime loaded first into python."""
    with open(os.path.realpath(lib), "rb") as f:
        if b"__asan_init" not in f.read():
            return None
    asan = subprocess.run(["cc", "-print-file-name=libasan.so"], capture_output=True,
                          text=True).stdout.strip()
    env = dict(os.environ, LD_PRELOAD=asan)
    # Python itself keeps memory to the end: only the library's errors count here.
    env["ASAN_OPTIONS"] = "detect_leaks=0"
    return env


@test
def test_embed_python_ctypes(workdir):
    lib = os.path.join(build_dir(), "stage", "lib", "libringside.so")
    check(os.path.exists(lib), "%s is not installed (make examples)" % lib)
    port = free_port()
    here = os.path.dirname(os.path.abspath(__file__))
    ticking_host([sys.executable, os.path.join(here, "embed_ctypes.py"), lib, str(port)],
                 port, b"py tick", b"py answer: ", 3, env=sanitizer_env(lib))


@test
def test_embed_pty_example(workdir):
    port = free_port()
    host = Host([example("pty"), str(port)] + BASH, port)
    try:
        nc = Client(port)
        nc.send_line("echo via-nc-$((6*7))")
        nc.wait_for(rb"via-nc-42")
        host.wait_for(b"typed: ")
        host.wait_for(b"joined: ")
        code, out, err = remote(port, b"echo via-remote-$((2+3))\n")
        check(code == 0, "ringside -remote exited %d: %r" % (code, err[-300:]))
        check(b"via-remote-5" in out, "the native client saw no answer: %r" % out[-300:])
        nc.send_line("exit 4")
        nc.wait_for(rb"ringside: program bash exited with status 4")
        check(host.wait_exit() == 4, "the pty example did not pass on bash's status")
        check(b"left: " in host.text(), "no leave was logged: %r" % host.text()[-400:])
    finally:
        host.close()
