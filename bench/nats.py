#!/usr/bin/env python3
"""bench/nats.py: the NATS scale profile (`make bench-nats`, `make bench-nats-smoke`).

One session fanned out through NATS JetStream: an origin (`ringside -publish`)
hosting the suite's producer, one `nats-server -js` on loopback, and EDGES
edge servers (`ringside -edge`), each in its own process and each serving as
many raw TCP clients as its open-file limit allows (limit - ringside's
FD_RESERVE).  Against it, a lone ringside serving the same number of clients
as one edge, directly, and the published session with a single edge (the
NATS path's latency without four edges sharing core 0).  Every contender is measured with the suite's one
client harness (build/bench/fanout-client, one process per edge), with the
same options; servers are pinned to CPU 0, harnesses and the producer to
CPU 1, as in run.py.

Several harnesses, one producer: each harness runs its phases with
`--go producer -- nats.py --relay SOCK`, so its "go" lines reach this driver,
which forwards the k-th "go" once every harness has sent its k-th (a barrier:
the phase starts when the last edge's clients are all registered) to the
producer, typed by a control client connected to the origin.  The driver
reads the origin's and nats-server's CPU from /proc at every forwarded line.

Measured per run, latency phase (warm-up discarded):
  deliveries    every record to every client, counted by the harnesses
  origin CPU    origin and nats-server, per record and per second, at two
                client counts (it must not grow with the edges' clients)
  edge CPU      per delivery, against the lone ringside's
  latency       producer's scheduled time (on the origin's pty) to client
                receive: p50 is the median of the edges' p50, p99 the worst
                edge's p99 (histograms are per harness)
  memory        RSS growth per connected client (harness summary)
Repetitions are interleaved (contender order rotated), ratios are taken pair
by pair within a repetition, and the report gives median (min-max).

Python stdlib only.  Every process is ours, started in its own session and
killed by pid on the way out.
"""

import argparse
import datetime
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
# natsenv only: tests/integration has a run.py of its own, so it goes last.
sys.path.append(os.path.join(ROOT, "tests", "integration"))

import natsenv  # noqa: E402
import run as R  # noqa: E402
from benchstats import fmt_med, fmt_num, med  # noqa: E402

SERVER_CPU, HARNESS_CPU = R.SERVER_CPU, R.HARNESS_CPU
SESSION = "bench"
# What runs in one job: the published session fanned out to EDGES edges, to
# one edge (the same clients per server as the lone ringside: the NATS path's
# latency without 4 edges sharing core 0), or a lone ringside.
KINDS = ("edges", "edge1", "lone")
LABEL = {"edges": "origin + %d edges", "edge1": "origin + 1 edge", "lone": "lone ringside"}

# per_edge: clients per edge server ("fdmax": what its open-file limit
# `nofile` allows; 10: the NATS hop's own latency, fan-out time aside).  rate: records/s (low: 65k clients x 2/s is 130k
# deliveries/s on the harness core).
PROFILES = {
    "smoke": dict(reps=1, edges=4, per_edge=[200], nofile=4096, rate=20, size=64, warm=2.0, lat=3.0,
                  timeout=60),
    "full": dict(reps=3, edges=4, per_edge=[10, 1000, "fdmax"], nofile=16384, rate=2, size=64, warm=6.0,
                 lat=20.0, timeout=240),
}


def fd_reserve():
    """ringside keeps FD_RESERVE descriptors for itself (src/session.c)."""
    try:
        with open(os.path.join(ROOT, "src", "session.c")) as f:
            m = re.search(r"#define FD_RESERVE (\d+)", f.read())
        return int(m.group(1))
    except (OSError, AttributeError):
        return 64


def nofile_preexec(n):
    def f():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return f


def start(cmd, log, nofile, stdout=None, stdin=subprocess.DEVNULL):
    p = subprocess.Popen(cmd, stdin=stdin, stdout=stdout if stdout is not None else log, stderr=log,
                         start_new_session=True, preexec_fn=nofile_preexec(nofile))
    R._procs.append(p)
    return p


def cpu_s(pid):
    """CPU time of every thread of pid in seconds (schedstat: ns, where
    /proc/PID/stat counts 10 ms ticks), or None once it is gone.  The origin
    and the edges have libnats' threads, nats-server Go's."""
    total, seen = 0, False
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
                seen = True
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9 if seen else None


def mem_available_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None

# ---------------------------------------------------------------- go barrier


def relay_main(path):
    """--relay: the harness's 'producer'.  Copies its stdin (go lines) to the
    driver's socket; EOF there ends it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    for line in sys.stdin.buffer:
        s.sendall(line)
    s.close()
    return 0


class Barrier:
    """Collects the harnesses' go lines; the k-th is typed at the origin once
    all n harnesses have sent theirs.  Samples CPU of `watch` pids then."""

    def __init__(self, path, n, typist, watch, deadline):
        self.n, self.typist, self.watch, self.deadline = n, typist, watch, deadline
        self.lines = []                 # per harness: lines received
        self.sent = 0
        self.marks = []                 # (time, line, {pid: cpu s})
        self.mismatch = None
        self.mem_ready = None
        self.lock = threading.Lock()
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(n)
        self.srv.settimeout(0.5)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def mark(self, what):
        self.marks.append((time.monotonic(), what, {p: cpu_s(p) for p in self.watch}))
        if len(self.marks) == 1:        # every client connected and registered
            self.mem_ready = mem_available_kib()

    def _accept(self):
        got = 0
        while got < self.n and time.monotonic() < self.deadline:
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            with self.lock:
                self.lines.append([])
                idx = len(self.lines) - 1
            threading.Thread(target=self._read, args=(c, idx), daemon=True).start()
            got += 1

    def _read(self, c, idx):
        buf = b""
        c.settimeout(1.0)
        while time.monotonic() < self.deadline:
            try:
                chunk = c.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                with self.lock:
                    self.lines[idx].append(line)
                    self._forward()
        with self.lock:
            self.lines[idx].append(None)     # EOF: the harness is done
            self._forward()
        c.close()

    def _forward(self):
        if len(self.lines) < self.n:
            return
        while all(len(ls) > self.sent for ls in self.lines):
            k = [ls[self.sent] for ls in self.lines]
            self.sent += 1
            if k[0] is None or any(x is None for x in k):
                self.mark("end")
                continue
            # "go rate count phase delay": all harnesses run the same phases.
            if len({tuple(x.split()[:4]) for x in k}) != 1:
                self.mismatch = "harnesses disagree on go line %d: %s" % (self.sent, k)
            self.mark(k[0].decode())
            self.typist.sendall(k[0] + b"\n")

    def close(self):
        self.srv.close()


class Typist:
    """A raw client of the session's server: types the go lines and reads
    (and drops) everything the session prints."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.stop = False
        self.rx = 0
        self.t = threading.Thread(target=self._drain, daemon=True)
        self.t.start()

    def _drain(self):
        self.sock.settimeout(0.5)
        while not self.stop:
            try:
                d = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError:
                return
            if not d:
                return
            self.rx += len(d)

    def sendall(self, data):
        self.sock.sendall(data)

    def close(self):
        self.stop = True
        try:
            self.sock.close()
        except OSError:
            pass

# ---------------------------------------------------------------- one run


def harness_cmd(a, prof, label, port, n, server_pid, sock):
    return ["taskset", "-c", HARNESS_CPU, a.client, "--label", label, "--port", str(port), "--clients", str(n),
            "--size", str(prof["size"]), "--server-pid", str(server_pid), "--rate", "%g" % prof["rate"],
            "--warm-secs", str(prof["warm"]), "--secs", str(prof["lat"]), "--timeout", str(prof["timeout"]),
            "--ready", a.ready, "--go", "producer", "--", sys.executable, os.path.abspath(__file__),
            "--relay", sock]


def run_one(a, prof, kind, per_edge, logdir, tag):
    """kind 'edges': origin + nats + EDGES edges x per_edge clients; 'edge1':
    the same with one edge; 'lone': one ringside x per_edge clients.
    Returns a result dict."""
    res = dict(kind=kind, per_edge=per_edge, harness=[], summaries=[], error=None, marks=[], rss={})
    tmp = tempfile.mkdtemp(prefix="rs-bnats-")
    log_path = os.path.join(logdir, "%s-%s-%d.log" % (tag, kind, per_edge))
    log = open(log_path, "wb")
    procs, nats, typist, barrier = [], None, None, None
    nofile = prof["nofile"]
    deadline = time.monotonic() + prof["timeout"] + 60
    try:
        prod = [a.producer, "--size", str(prof["size"]), "--cpu", HARNESS_CPU]
        port = R.free_port()
        taskset = ["taskset", "-c", SERVER_CPU]
        published = kind in ("edges", "edge1")
        if published:
            nats = natsenv.Single(workdir=os.path.join(tmp, "nats"), wrap=taskset).start()
            url = "%s,session=%s" % (nats.url, SESSION)
            head = start(taskset + [a.ringside, "-publish", url, "-server", "tcp:port=%d" % port, "-noio", "--"]
                         + prod, log, 1024)
        else:
            # One descriptor more than an edge: the typist is its client too.
            head = start(taskset + [a.ringside, "-server", "tcp:port=%d" % port, "-noio", "--"] + prod, log,
                         nofile + 1)
        procs.append(head)
        if not R.wait_listening([port], head):
            raise RuntimeError("the %s did not listen (exit %s)" % ("origin" if published else "server",
                                                                   head.poll()))
        targets = []                    # (label, port, pid)
        if published:
            for i in range(prof["edges"] if kind == "edges" else 1):
                ep = R.free_port()
                e = start(taskset + [a.ringside, "-edge", url, "-server", "tcp:port=%d" % ep] + a.edge_extra,
                          log, nofile)
                procs.append(e)
                targets.append(("edge%d" % (i + 1), ep, e.pid))
            for (_, ep, _), e in zip(targets, procs[1:]):
                if not R.wait_listening([ep], e):
                    raise RuntimeError("an edge did not listen (exit %s); see %s" % (e.poll(), log_path))
        else:
            targets.append(("lone", port, head.pid))
        typist = Typist(port)
        watch = [head.pid] + ([nats.proc.pid] if nats else [])
        res["watch"] = {"origin" if published else "lone": head.pid}
        if nats:
            res["watch"]["nats"] = nats.proc.pid
        sock = os.path.join(tmp, "go.sock")
        barrier = Barrier(sock, len(targets), typist, watch, deadline)
        hs = []
        res["mem_before"] = mem_available_kib()
        for label, tport, pid in targets:
            cmd = harness_cmd(a, prof, label, tport, per_edge, pid, sock)
            log.write(("$ " + " ".join(cmd) + "\n").encode())
            log.flush()
            out = open(os.path.join(tmp, label + ".out"), "wb+")
            hs.append((start(cmd, log, max(nofile, per_edge + 256) + 256, stdout=out), out))
        for h, _ in hs:
            try:
                h.wait(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                res["error"] = "a harness exceeded its deadline"
                break
        res["rss"] = {str(p): rss_kib(p) for _, _, p in targets}
        for (label, _, _), (h, out) in zip(targets, hs):
            out.seek(0)
            for line in out.read().decode(errors="replace").splitlines():
                if line.startswith("{"):
                    try:
                        d = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if d.get("summary"):
                        res["summaries"].append(d)
                        if d.get("error") and not res["error"]:
                            res["error"] = "%s: %s" % (label, d["error"])
                    else:
                        res["harness"].append(d)
            out.close()
            if h.returncode not in (0, None) and not res["error"]:
                res["error"] = "%s: harness exit %s; see %s" % (label, h.returncode, log_path)
        if barrier.mismatch and not res["error"]:
            res["error"] = barrier.mismatch
        res["marks"] = barrier.marks
        res["mem_ready"] = barrier.mem_ready
        return res
    except Exception as e:   # one run's failure is reported, the suite goes on
        res["error"] = "%s: %s" % (type(e).__name__, e)
        return res
    finally:
        if typist:
            typist.close()
        if barrier:
            barrier.close()
        for p in reversed(list(R._procs)):
            R.kill_tree(p)
        if nats:
            nats.close()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if not res["error"]:
            os.unlink(log_path)

# ---------------------------------------------------------------- metrics


def phase_of(res, name="latency"):
    return [p for p in res["harness"] if p.get("phase") == name]


def metrics(res):
    """Flat metrics of one run (latency phase)."""
    ph = phase_of(res)
    if not ph or res["error"]:
        return {}
    m = {}
    m["clients"] = sum(p["clients"] for p in ph)
    m["deliveries"] = sum(p["deliveries"] for p in ph)
    m["expected"] = sum(p["expected"] for p in ph)
    m["missing"] = sum(p["missing"] + p["ooo"] + p["corrupt"] + p["undelivered"] + p["lost_disconnect"]
                       for p in ph)
    m["timed_out"] = any(p["timed_out"] for p in ph)
    m["records"] = ph[0]["count"]
    cpus = sorted(p["server_cpu_us_per_deliv"] for p in ph)
    m["edge_cpu_us"] = cpus[len(cpus) // 2]
    p50s = sorted(p["lat_p50_us"] for p in ph)
    m["lat_p50_ms"] = p50s[len(p50s) // 2] / 1000.0
    m["lat_p99_ms"] = max(p["lat_p99_us"] for p in ph) / 1000.0
    rss = [s.get("rss_per_client_kib") for s in res["summaries"] if s.get("rss_per_client_kib")]
    if rss:
        rss.sort()
        m["rss_client_kib"] = rss[len(rss) // 2]
    # The whole machine's memory per client: both ends of each loopback
    # connection (kernel) and the harness's per-client state included.
    if res.get("mem_ready") and res.get("mem_before"):
        m["machine_kib_client"] = (res["mem_before"] - res["mem_ready"]) / m["clients"]
    # The origin's and nats-server's CPU from the latency phase's go line to the next line.
    marks = res["marks"]
    for i, (t, what, cpu) in enumerate(marks):
        if what.startswith("go ") and what.split()[3] == str(ph[0]["id"]) and i + 1 < len(marks):
            t2, _, cpu2 = marks[i + 1]
            for role, pid in res.get("watch", {}).items():
                a, b = cpu.get(pid), cpu2.get(pid)
                if a is not None and b is not None:
                    m[role + "_cpu_us_rec"] = (b - a) * 1e6 / m["records"]
                    m[role + "_cpu_pct"] = (b - a) * 100.0 / (t2 - t)
    return m


def ratios(results, reps, a, b, key, key_b=None):
    out = []
    for rep in range(reps):
        ra = [r for r in results if r["rep"] == rep and (r["kind"], r["per_edge"]) == a and not r["error"]]
        rb = [r for r in results if r["rep"] == rep and (r["kind"], r["per_edge"]) == b and not r["error"]]
        if ra and rb:
            va, vb = metrics(ra[0]).get(key), metrics(rb[0]).get(key_b or key)
            if va and vb:
                out.append(va / vb)
    return out


def report(path, prof_name, prof, info, results, elapsed):
    reps = prof["reps"]
    cells = sorted({(r["kind"], r["per_edge"]) for r in results}, key=lambda c: (c[1], c[0]))
    sizes = sorted({r["per_edge"] for r in results})
    L = ["# NATS fan-out scale profile (%s)\n" % prof_name]
    L.append("- date: %s, host %s, kernel %s, %s" % (info["date"], info["host"], info["kernel"], info["cpu"]))
    L.append("- commit: %s; nats-server %s" % (info["commit"], info.get("nats", "?")))
    L.append("- load at start: %s; other busy processes: %s" % (info["load"], info["others"]))
    L.append("- %d repetitions, contenders interleaved (order rotated per repetition); %.1f min" %
             (reps, elapsed / 60))
    L.append("- session: the suite's producer, %d B records at %g records/s; warm-up %g s (discarded), "
             "latency phase %g s" % (prof["size"], prof["rate"], prof["warm"], prof["lat"]))
    L.append("- edges: %d `ringside -edge` processes, RLIMIT_NOFILE %d each; clients per edge %s; one "
             "`nats-server -js` on loopback, fresh store per run; servers pinned to CPU %s, harnesses "
             "(one per edge) and the producer to CPU %s" %
             (prof["edges"], prof["nofile"], ", ".join(map(str, sizes)), SERVER_CPU, HARNESS_CPU))
    L.append("- 1 edge: the same with a single edge (the NATS path without 4 edges sharing core 0)")
    L.append("- lone: one ringside hosting the producer, serving as many clients as one edge, same harness\n")
    L.append("Values: median (min–max) over repetitions. Edge CPU per delivery and latency p50 are the median "
             "over the edges of a run, p99 the worst edge's; origin and nats-server CPU from the latency "
             "phase's go line to the harnesses' next line (so including the end-of-phase drain). RSS per client: the "
             "server's RSS growth from before the first connect to all clients registered, / clients (per edge, "
             "median). Machine KiB per client: MemAvailable's drop over the same span / clients: the kernel's "
             "memory for both ends of each loopback connection plus the harness's state; other processes' "
             "memory moves it too, so it means something only at thousands of clients.\n")
    hdr = ("| contender | clients/server | total clients | delivered / expected | lost | edge or lone CPU µs/delivery "
           "| latency p50 ms | p99 ms | RSS per client KiB | machine KiB per client | origin CPU µs/record | origin CPU % | nats-server CPU % |")
    L += [hdr, "|" + "---|" * (hdr.count("|") - 1)]
    for kind, n in cells:
        rs = [r for r in results if (r["kind"], r["per_edge"]) == (kind, n) and not r["error"]]
        ms = [metrics(r) for r in rs]
        ms = [m for m in ms if m]
        if not ms:
            errs = [r["error"] for r in results if (r["kind"], r["per_edge"]) == (kind, n)]
            L.append("| %s | %d | | no result: %s ||||||||||" % (kind, n, "; ".join(e or "?" for e in errs)[:300]))
            continue
        def g(k):
            return med([m.get(k) for m in ms])
        deliv = "%s / %s" % (fmt_num(sum(m["deliveries"] for m in ms)), fmt_num(sum(m["expected"] for m in ms)))
        L.append("| %s | %d | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            LABEL[kind].replace("%d", str(prof["edges"])), n,
            "{:,}".format(ms[0]["clients"]), deliv, sum(m["missing"] for m in ms), fmt_med(g("edge_cpu_us")),
            fmt_med(g("lat_p50_ms")), fmt_med(g("lat_p99_ms")), fmt_med(g("rss_client_kib")), fmt_med(g("machine_kib_client")),
            fmt_med(g("origin_cpu_us_rec")), fmt_med(g("origin_cpu_pct")), fmt_med(g("nats_cpu_pct"))))
    L.append("\n## Ratios (pair by pair within a repetition)\n")
    for n in sizes:
        for a_, b_, key, what in (
                ("edges", "lone", "edge_cpu_us", "CPU per delivery, edge (4 edges) / lone ringside"),
                ("edge1", "lone", "edge_cpu_us", "CPU per delivery, edge (1 edge) / lone ringside"),
                ("edge1", "lone", "lat_p50_ms", "latency p50, 1 edge's clients / direct clients"),
                ("edge1", "lone", "lat_p99_ms", "latency p99, 1 edge's clients / direct clients"),
                ("edges", "lone", "lat_p50_ms", "latency p50, 4 edges' clients / direct clients"),
                ("edges", "lone", "lat_p99_ms", "latency p99, worst of 4 edges / direct clients"),
                ("edges", "lone", "rss_client_kib", "RSS per client, edge / lone ringside")):
            rt = ratios(results, reps, (a_, n), (b_, n), key)
            L.append("- %s, %d clients per server: %s" % (what, n, fmt_med(med(rt), "x")))
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        for role in ("origin", "nats"):
            for key, unit in (("_cpu_pct", "% of a core"), ("_cpu_us_rec", "CPU per record")):
                rt = ratios(results, reps, ("edges", hi), ("edges", lo), role + key)
                L.append("- %s %s, %d vs %d edge clients: %s" %
                         ("origin" if role == "origin" else "nats-server", unit, hi * prof["edges"],
                          lo * prof["edges"], fmt_med(med(rt), "x")))
    errs = [r for r in results if r["error"]]
    if errs:
        L.append("\n## Failed runs\n")
        for r in errs:
            L.append("- rep %d %s %d: %s" % (r["rep"], r["kind"], r["per_edge"], r["error"]))
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def gate(results):
    bad = []
    for r in results:
        m = metrics(r)
        who = "rep %d %s x %d" % (r["rep"], r["kind"], r["per_edge"])
        if r["error"]:
            bad.append("%s: %s" % (who, r["error"]))
        elif not m:
            bad.append("%s: no latency phase" % who)
        elif m["missing"] or m["timed_out"] or m["deliveries"] != m["expected"]:
            bad.append("%s: %d of %d deliveries, %d lost%s" % (who, m["deliveries"], m["expected"], m["missing"],
                                                               ", timed out" if m["timed_out"] else ""))
    if bad:
        sys.stderr.write("bench-nats: FAILED\n  " + "\n  ".join(bad) + "\n")
        return 1
    sys.stderr.write("bench-nats: every record reached every client in every run\n")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--relay", help=argparse.SUPPRESS)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="smoke")
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--ringside", default=os.path.join(ROOT, "build", "ringside"))
    ap.add_argument("--out", help="report directory (default: bench/results/<date>-nats, "
                    "build/bench/nats-smoke for the smoke profile)")
    ap.add_argument("--ready", default="stats", help="the harness's --ready at an edge")
    ap.add_argument("--edge-extra", default="", help="extra edge arguments, space-separated")
    ap.add_argument("--per-edge", help="clients per server, comma-separated (number or fdmax)")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--kinds", default=",".join(KINDS), help="jobs to run: edges, edge1, lone")
    ap.add_argument("--quiet-wait", type=float, default=60, help="s to wait for a quiet machine per run")
    a = ap.parse_args()
    if a.relay:
        return relay_main(a.relay)
    prof = dict(PROFILES[a.profile])
    if a.per_edge:
        prof["per_edge"] = [x if x == "fdmax" else int(x) for x in a.per_edge.split(",")]
    if a.reps:
        prof["reps"] = a.reps
    a.client = os.path.join(a.build, "fanout-client")
    a.producer = os.path.join(a.build, "producer")
    a.edge_extra = a.edge_extra.split()
    for exe in (a.client, a.producer, a.ringside):
        if not os.access(exe, os.X_OK):
            sys.stderr.write("bench-nats: %s not built\n" % exe)
            return 2
    if not os.access(natsenv.NATS_SERVER, os.X_OK):
        sys.stderr.write("bench-nats: nats-server not installed (apt-get install nats-server)\n")
        return 2
    fdmax = prof["nofile"] - fd_reserve()
    sizes = [fdmax if x == "fdmax" else x for x in prof["per_edge"]]
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    outdir = a.out or (os.path.join(ROOT, "build", "bench", "nats-smoke") if a.profile == "smoke"
                       else os.path.join(HERE, "results", stamp + "-nats"))
    os.makedirs(outdir, exist_ok=True)
    logdir = os.path.join(outdir, "logs")
    os.makedirs(logdir, exist_ok=True)
    signal.signal(signal.SIGTERM, R._on_signal)
    signal.signal(signal.SIGINT, R._on_signal)
    info = R.machine_info(None)
    info["nats"] = subprocess.run([natsenv.NATS_SERVER, "--version"], capture_output=True,
                                  text=True).stdout.strip()
    t0 = time.time()
    jobs = [(k, n) for n in sizes for k in KINDS if k in a.kinds.split(",")]
    results = []
    raw = open(os.path.join(outdir, "raw.jsonl"), "w")
    for rep in range(prof["reps"]):
        order = jobs[rep % len(jobs):] + jobs[:rep % len(jobs)]
        for kind, n in order:
            waited, busy = R.wait_quiet(a.quiet_wait)
            sys.stderr.write("bench-nats: rep %d %s x %d per server%s\n" %
                             (rep + 1, kind, n, " (busy: %s)" % busy if busy else ""))
            r = run_one(a, prof, kind, n, logdir, "r%d" % rep)
            r["rep"] = rep
            r["busy"] = busy
            results.append(r)
            raw.write(json.dumps(r) + "\n")
            raw.flush()
            m = metrics(r)
            sys.stderr.write("bench-nats:   %s\n" % (r["error"] or ", ".join(
                "%s=%s" % (k, fmt_num(v) if isinstance(v, float) else v) for k, v in sorted(m.items()))))
    raw.close()
    info["elapsed"] = time.time() - t0
    report(os.path.join(outdir, "report.md"), a.profile, prof, info, results, info["elapsed"])
    if not os.listdir(logdir):
        os.rmdir(logdir)
    sys.stderr.write("bench-nats: report %s\n" % os.path.relpath(os.path.join(outdir, "report.md"), ROOT))
    return gate(results)


if __name__ == "__main__":
    sys.exit(main())
