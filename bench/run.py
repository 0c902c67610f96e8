#!/usr/bin/env python3
"""bench/run.py: runs the fan-out benchmark matrix and writes the report.

For every cell (scenario, N clients, record size S, transport) and every
repetition it
starts each contender in turn (order rotated per repetition, so contenders are
interleaved rather than run in blocks), pinned to CPU 0, runs the one C client
harness (build/bench/fanout-client) pinned to CPU 1, collects the JSON lines
the harness prints, and stops everything it started.  At the end it writes a
Markdown report (median and min-max over repetitions, ratios computed pair by
pair within a repetition), raw JSON lines and gnuplot SVG plots.

Scenarios: lat (latency mode), tput (latency, then throughput steps), slow
(slow clients), and the limit cells of limits.py: storm (join storm), mem
(idle memory per client), ceil (ceiling search), embed (the embedding API
against the pty path).

Python stdlib only.  Every process is started in its own session with a
deadline and is killed by pid (and its descendants by pid) on exit or signal.
"""

import argparse
import atexit
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from benchstats import fmt_med, fmt_num, med, size_label
import limits

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

ALL_CONTENDERS = ["ringside", "floor-send", "floor-uring", "naive", "redis", "ncat"]
# Slow-client rate: 40 x 16 KiB records/s = 6.4 MB per stalled client in 10 s.
# Less would vanish into the kernel: the server-side send buffer of a stalled
# loopback socket autotunes to ~3.9 MB (tcp_wmem max 4 MiB), so with a 4 MB
# stall no server ever sees back-pressure and no policy is exercised.
# Slow-client scenario only: ringside with a 1 MiB lag budget, so the stalled
# clients cross it within the 10 s stall and its gap policy is exercised (the
# default budget, ring - 128 KiB = 7.9 MiB, is more than a 10 s stall at this
# rate produces).
SLOW_EXTRA = ["ringside-lag1m"]
# The io_uring floor with its producer on a terminal instead of a pipe, as
# ringside hosts a debugger: how much of ringside's cost over the floor is
# reading a pty.  TCP latency cells only (--contenders, and the quick run).
PTY_FLOOR = "floor-uring-pty"
HOSTING = {"ringside", "ringside-lag1m", "floor-send", "floor-uring", PTY_FLOOR, "naive"}
# How clients reach the server: TCP on loopback, a Unix socket, or TLS over
# TCP.  Contenders without a mode for a transport are not run in its cells
# (not listed as failures).  The TLS floor is floor-send with OpenSSL; the
# io_uring floor has no TLS mode.
TRANSPORTS = ["tcp", "unix", "tls"]
SUPPORTS = {
    "tcp": set(ALL_CONTENDERS) | set(SLOW_EXTRA) | {PTY_FLOOR},
    "unix": {"ringside", "floor-send", "floor-uring", "redis"},
    "tls": {"ringside", "floor-send", "redis"},
}
TRANSPORT_NAME = {"tcp": "TCP", "unix": "Unix socket", "tls": "TLS over TCP"}
# Concurrent TLS handshakes: the harness connects TLS clients in batches of
# this many and finishes their handshakes before the next batch (ringside
# lets one address have -maxauth/8 = 16 connections authenticating at once).
TLS_CONNECT_BATCH = 8
CERT_NAME = "bench"
# The harness offers only this TLS 1.3 suite (mandatory for every TLS 1.3
# server), so all contenders run the same cipher.
TLS_SUITES = "TLS_AES_128_GCM_SHA256"
NCAT_MAX_N = 1000          # ncat uses select(): FD_SETSIZE 1024 minus its own fds
SERVER_CPU, HARNESS_CPU = "0", "1"

# ---------------------------------------------------------------- profiles
#
# lat_dps: offered deliveries/s in latency mode (rate = lat_dps / N records/s,
# capped at lat_max_rate); well under the floor's saturation on this machine
# (research note §4.4: 70k-1.3M deliveries/s depending on coalescing).
# The limit cells (limits.py) take their settings from these:
#   storm: settle = s of counting bytes after the last registration,
#          timeout = s (+ N/1000) before unregistered clients are given up
#   mem:   warm = clients connected before the baseline
#   ceil:  open-loop steps from `start` records/s, x `factor`, `secs` each;
#          the producer wakes at most every `tick_us` (limits.py says why)
#   embed: records per embed-bench run
# cell_contenders: per scenario, the contenders it runs (default: all).
STORM = dict(settle=0.5, timeout=15)
MEM = dict(warm=50)
CEIL = dict(start=400, factor=2 ** 0.5, secs=1.5, max_steps=14, max_deliv=4e7, lat_secs=1.0, tick_us=1000)
EMBED = dict(records=50000, timeout=120)
LIMIT_CONTENDERS = {"ceil": ["ringside", "floor-uring", "floor-send", "redis"], "embed": ["ringside"]}
QUICK_CONTENDERS = ["ringside", "floor-uring", "naive", "redis", "ncat"]
PROFILES = {
    # A CI gate: results and no loss over every transport, and the storm and
    # idle-memory cells working (ncat sits the storm out: its backlog of 10
    # strands silent clients until the storm's timeout, see limits.py).
    "smoke": dict(
        cells=[("lat", 10, 1024, t) for t in TRANSPORTS] + [("storm", 200, 64, "tcp"), ("mem", 100, 64, "tcp")],
        reps=1, warm=0.2, lat_secs=1.0, min_records=20, tput=False, tput_start_x=2, steal_retries=0,
        tput_secs=1.0, slow=None, lat_dps=5000, lat_max_rate=500,
        contenders=ALL_CONTENDERS, run_timeout=40,
        storm=dict(STORM, settle=0.3, timeout=5), mem=dict(warm=20), ceil=CEIL, embed=EMBED,
        cell_contenders=dict(LIMIT_CONTENDERS, storm=[c for c in ALL_CONTENDERS if c != "ncat"]),
    ),
    "quick": dict(
        cells=[("tput", 100, 1024, "tcp"), ("tput", 1000, 1024, "tcp"),
               ("lat", 10, 64, "tcp"), ("lat", 100, 64, "tcp"), ("lat", 1000, 64, "tcp"),
               ("lat", 10000, 64, "tcp"),
               ("storm", 1000, 64, "tcp"), ("storm", 10000, 64, "tcp"),
               ("mem", 1000, 64, "tcp"), ("mem", 10000, 64, "tcp"),
               ("ceil", 1000, 64, "tcp"), ("embed", 1000, 64, "tcp")],
        storm=STORM, mem=MEM, ceil=CEIL, embed=EMBED,
        cell_contenders=dict(LIMIT_CONTENDERS, **{sc: QUICK_CONTENDERS for sc in ("tput", "storm", "mem")}),
        # CPU per delivery is compared at the 5 % level: 1.5 s phases (12 records at
        # N = 10,000) spread one server's figure over 1.01-1.35 x another's in one run,
        # and 0.3 s of warm-up left the end of the joins inside the phase.
        reps=3, warm=1.0, lat_secs=3.0, min_records=24, tput=True, tput_secs=1.0, tput_start_x=4,
        tput_max_steps=8, tput_max_deliv=1.6e7,
        slow=dict(n=1000, size=16384, rate=40, nostall_secs=3, slow_secs=14, stall_at=2,
                  stall_secs=10, reps=1),
        lat_dps=20000, lat_max_rate=1000,
        contenders=QUICK_CONTENDERS[:2] + [PTY_FLOOR] + QUICK_CONTENDERS[2:], run_timeout=90,
    ),
    "full": dict(
        cells=[("tput", n, s, "tcp") for s in (64, 1024, 16384) for n in (1, 10, 100, 1000, 10000)] +
              [("tput", n, 1024, t) for t in ("unix", "tls") for n in (100, 1000)] +
              [(sc, n, 64, "tcp") for sc in ("storm", "mem") for n in (1000, 10000)] +
              [("ceil", 1000, s, "tcp") for s in (64, 1024)] + [("embed", 1000, s, "tcp") for s in (64, 1024)],
        storm=STORM, mem=MEM, ceil=CEIL, embed=EMBED, cell_contenders=LIMIT_CONTENDERS,
        reps=5, warm=1.0, lat_secs=3.0, min_records=20, tput=True, tput_secs=2.0, tput_start_x=2,
        tput_max_steps=10, tput_max_deliv=1.6e7,
        slow=dict(n=1000, size=16384, rate=40, nostall_secs=5, slow_secs=15, stall_at=2,
                  stall_secs=10, reps=5),
        lat_dps=20000, lat_max_rate=1000,
        contenders=ALL_CONTENDERS, run_timeout=240,
    ),
    # CPU per delivery against the floors and Redis at the 5 % level, latency
    # cells only.  At N = 10 and 100 the quick run's 3 s phases spread one
    # server's figure over 0.8-1.5 x another's from run to run; 10 s phases,
    # 5 repetitions and repeating the runs the host stole from (STEAL_MAX)
    # narrow that to about 0.9-1.2.
    "cpu": dict(
        cells=[("lat", n, 64, "tcp") for n in (10, 100, 1000, 10000)],
        reps=5, warm=1.0, lat_secs=10.0, min_records=100, tput=False, tput_secs=1.0, tput_start_x=4,
        tput_max_steps=1, tput_max_deliv=1.6e7, slow=None, lat_dps=20000, lat_max_rate=1000,
        contenders=["ringside", "floor-uring", PTY_FLOOR, "redis"], run_timeout=90,
        storm=STORM, mem=MEM, ceil=CEIL, embed=EMBED, cell_contenders=LIMIT_CONTENDERS,
    ),
    # The quick profile's throughput cells over every transport: what Unix
    # sockets and TLS cost each server, ringside against Redis.  A longer
    # latency phase (80 records at N = 1000) and 3 repetitions.
    "transport": dict(
        cells=[("tput", n, 1024, t) for t in TRANSPORTS for n in (100, 1000)],
        reps=3, warm=0.3, lat_secs=4.0, min_records=40, tput=True, tput_secs=1.0, tput_start_x=4,
        tput_max_steps=6, tput_max_deliv=1.6e7, slow=None, lat_dps=20000, lat_max_rate=1000,
        contenders=["ringside", "floor-send", "floor-uring", "redis"], run_timeout=90,
        storm=STORM, mem=MEM, ceil=CEIL, embed=EMBED, cell_contenders=LIMIT_CONTENDERS,
    ),
}

# ---------------------------------------------------------------- processes

_procs = []   # Popen objects we started and have not reaped


def _descendants(pid):
    """Pids whose parent chain leads to pid (read from /proc)."""
    parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            ppid = int(s[s.rindex(")") + 2:].split()[1])
            parent[int(d)] = ppid
        except (OSError, ValueError):
            pass
    out, frontier = [], {pid}
    while frontier:
        nxt = {c for c, p in parent.items() if p in frontier}
        out.extend(nxt)
        frontier = nxt
    return out


def kill_tree(p, grace=2.0):
    """SIGTERM a process we started and its descendants (by pid), then SIGKILL."""
    if p.poll() is not None:
        if p in _procs:
            _procs.remove(p)
        return
    kids = _descendants(p.pid)
    for pid in [p.pid] + kids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    for pid in [p.pid] + kids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        p.wait(timeout=2)
    except subprocess.TimeoutExpired:
        pass
    if p in _procs:
        _procs.remove(p)


def _cleanup_all():
    for p in list(_procs):
        kill_tree(p, grace=1.0)


def _on_signal(sig, frame):
    _cleanup_all()
    sys.stderr.write(f"\nbench: interrupted by signal {sig}, processes cleaned up\n")
    sys.exit(128 + sig)


def _raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass


def start(cmd, log, stdin=subprocess.DEVNULL, stdout=None, env=None):
    p = subprocess.Popen(cmd, stdin=stdin, stdout=stdout if stdout is not None else log,
                         stderr=log, start_new_session=True, preexec_fn=_raise_nofile, env=env)
    _procs.append(p)
    return p


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """True once 127.0.0.1:port (or 0.0.0.0:port) is in LISTEN state.  Read from
    /proc/net/tcp so that probing does not itself connect a client."""
    want = f":{port:04X}"
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[1].endswith(want) and parts[3] == "0A":
                    return True
    except OSError:
        pass
    return False


def unix_listening(path):
    """True once a Unix stream socket at path is listening (from /proc/net/unix,
    again without connecting)."""
    try:
        with open("/proc/net/unix") as f:
            next(f)
            for line in f:
                parts = line.split()
                # Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 = listening
                if len(parts) >= 8 and parts[7] == path and parts[3] == "00010000":
                    return True
    except OSError:
        pass
    return False


def wait_listening(targets, proc, timeout=10.0):
    """targets: TCP ports (int) and Unix socket paths (str), all must listen."""
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
        if all(unix_listening(t) if isinstance(t, str) else listening(t) for t in targets):
            return True
        time.sleep(0.02)
    return False


def make_cert(d):
    """A self-signed P-256 server certificate and key in d (the suite's own
    0700 directory), made with the openssl command as the README says."""
    crt, key = os.path.join(d, CERT_NAME + ".crt"), os.path.join(d, CERT_NAME + ".key")
    exe = shutil.which("openssl")
    if not exe:
        return None, "openssl command not installed"
    r = subprocess.run([exe, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "30", "-subj", "/CN=bench", "-addext", "extendedKeyUsage=serverAuth",
                        "-keyout", key, "-out", crt], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return None, "openssl req failed: " + r.stderr.strip()[-200:]
    os.chmod(key, 0o600)
    return (crt, key), None

# ---------------------------------------------------------------- contenders


class Skip(Exception):
    pass


def contender_cmd(name, a, port, n, size, tmp, transport, scenario="lat", prod_extra=()):
    """How one contender runs in one cell: a dict with
    srv     the server argv (pinned to SERVER_CPU),
    env     extra environment for it (or None),
    listen  TCP ports / Unix paths to wait for before starting the harness,
    conn    harness arguments saying how to reach it (--port / --unix / --tls),
    mode    harness arguments for readiness and go (any "-- producer ..." last).
    Clients use `transport`; a producer that talks to the server (Redis, ncat)
    always uses plain TCP, so only the fan-out side changes with the transport."""
    if name not in SUPPORTS[transport]:
        raise Skip(f"no {TRANSPORT_NAME[transport]} mode in this suite")
    greet = ["--greet"] if limits.needs_greeting(scenario, name) else []
    prod = [a.producer, "--size", str(size)] + list(prod_extra)
    taskset = ["taskset", "-c", SERVER_CPU]
    upath = os.path.join(tmp, "sock", CERT_NAME)
    if transport == "unix":
        os.mkdir(os.path.dirname(upath), 0o700)
        conn, listen = ["--unix", upath], [upath]
    else:
        conn, listen = ["--port", str(port)], [port]
    if transport == "tls":
        if not a.cert:
            raise Skip(a.cert_error)
        conn += ["--tls", "--tls-ca", a.cert[0], "--tls-suites", a.tls_suites,
                 "--connect-batch", str(TLS_CONNECT_BATCH)]
    out = dict(env=None, listen=listen, conn=conn)
    if name in ("ringside", "ringside-lag1m"):
        if not os.access(a.ringside, os.X_OK):
            raise Skip(f"{a.ringside} not built")
        opts = ["-lag", str(1 << 20)] if name == "ringside-lag1m" else []
        if transport == "tcp":
            spec = f"tcp:port={port}"
        elif transport == "unix":
            spec = f"npipe:pipe={CERT_NAME}"
            out["env"] = {"RINGSIDE_PIPE_DIR": os.path.dirname(upath)}
        else:
            # certuser= looks in $HOME/.config/ringside/certs: a private HOME.
            home = os.path.join(tmp, "home")
            certs = os.path.join(home, ".config", "ringside", "certs")
            os.makedirs(certs, mode=0o700)
            for src, ext in zip(a.cert, (".crt", ".key")):
                shutil.copyfile(src, os.path.join(certs, CERT_NAME + ext))
            os.chmod(os.path.join(certs, CERT_NAME + ".key"), 0o600)
            spec = f"ssl:proto=tls1,certuser={CERT_NAME},port={port}"
            out["env"] = {"HOME": home}
        out["srv"] = taskset + [a.ringside, "-server", spec, "-noio"] + opts + ["--"] + prod + \
            ["--cpu", HARNESS_CPU]
        out["mode"] = ["--ready", "stats", "--go", "client0"]
        return ready_for(out, scenario, name)
    if name in ("floor-send", "floor-uring", PTY_FLOOR):
        mode = name.split("-")[1]
        where = ["--unix", upath] if transport == "unix" else ["--port", str(port)]
        if name == PTY_FLOOR:
            where += ["--pty"]
        if transport == "tls":
            where += ["--tls-cert", a.cert[0], "--tls-key", a.cert[1]]
        out["srv"] = taskset + [a.floor] + where + ["--clients", str(n), "--mode", mode] + greet + ["--"] + \
            prod + ["--cpu", HARNESS_CPU]
        out["mode"] = ["--ready", "none", "--go", "client0"]
        return ready_for(out, scenario, name)
    if name == "naive":
        out["srv"] = taskset + [a.naive, "--port", str(port)] + greet + ["--"] + prod + ["--cpu", HARNESS_CPU]
        out["mode"] = ["--ready", "stats", "--go", "client0"]
        return ready_for(out, scenario, name)
    if name == "redis":
        exe = shutil.which("redis-server")
        if not exe:
            raise Skip("redis-server not installed")
        # The producer PUBLISHes over plain TCP on `pport`; subscribers use the transport.
        pport = port
        srv = [exe, "--bind", "127.0.0.1", "--protected-mode", "yes",
               "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", tmp,
               "--logfile", "", "--io-threads", "1", "--maxclients", str(n + 100),
               "--client-output-buffer-limit", "pubsub 32mb 8mb 60",
               # Redis's default backlog is 511; every other listener here
               # gets 4096 (somaxconn), and a join storm would otherwise
               # measure the default (see the README).
               "--tcp-backlog", "4096"]
        if transport == "unix":
            srv += ["--unixsocket", upath, "--unixsocketperm", "700"]
            out["listen"] = [upath, pport]
        elif transport == "tls":
            pport = free_port()
            srv += ["--tls-port", str(port), "--tls-cert-file", a.cert[0], "--tls-key-file", a.cert[1],
                    "--tls-ca-cert-file", a.cert[0], "--tls-auth-clients", "no"]
            out["listen"] = [port, pport]
        out["srv"] = taskset + srv + ["--port", str(pport)]
        out["mode"] = ["--ready", "subscribe", "--go", "producer", "--"] + prod + ["--out", f"redis:{pport}"]
        return ready_for(out, scenario, name)
    if name == "ncat":
        exe = shutil.which("ncat")
        if not exe:
            raise Skip("ncat not installed")
        if n > NCAT_MAX_N:
            raise Skip(f"ncat --broker uses select(): N > {NCAT_MAX_N} unsupported")
        out["srv"] = taskset + [exe, "--broker", "--listen", "127.0.0.1", str(port), "--max-conns", str(n + 10),
                                "--nodns"]
        # ncat listens with a backlog of about 10: connect in small paced
        # batches or connections sit half-open in the kernel for seconds.
        out["mode"] = ["--ready", "sync", "--connect-batch", "8", "--connect-pause-ms", "2", "--go", "producer",
                       "--"] + prod + ["--out", f"tcp:{port}"]
        return ready_for(out, scenario, name)
    raise ValueError(name)


def ready_for(out, scenario, name):
    """The harness's readiness signal as a limit cell wants it."""
    want = limits.ready_mode(scenario, name)
    if want:
        i = out["mode"].index("--ready")
        out["mode"][i + 1] = want
    return out


def lat_rate(prof, n, size):
    dps = prof["lat_dps"] / (2 if size > 4096 else 1)
    return min(prof["lat_max_rate"], dps / n)


def run_one(a, prof, name, scenario, n, size, transport, logdir, tag):
    """One contender, one cell, one repetition.  Returns a result dict."""
    res = {"contender": name, "scenario": scenario, "n": n, "size": size, "transport": transport, "phases": [],
           "summary": None, "error": None, "skipped": None, "server_exit": None}
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="rs-bench-")
    log_path = os.path.join(logdir, f"{tag}-{name}.log")
    log = open(log_path, "wb")
    srv = harness = None
    if scenario == "embed":
        try:
            res["embed"], res["error"] = limits.run_embed(a, prof, n, size, log)
            res["server_exit"] = "embed-bench (no server)"
            return res
        finally:
            log.close()
            shutil.rmtree(tmp, ignore_errors=True)
            if not res["error"]:
                os.unlink(log_path)
    try:
        try:
            how = contender_cmd(name, a, port, n, size, tmp, transport, scenario,
                                limits.producer_args(scenario, prof))
        except Skip as e:
            res["skipped"] = str(e)
            return res
        srv_cmd, h_mode = how["srv"], how["mode"]
        env = dict(os.environ, **how["env"]) if how["env"] else None
        log.write(("$ " + " ".join(f"{k}={v}" for k, v in (how["env"] or {}).items()) +
                   (" " if how["env"] else "") + " ".join(srv_cmd) + "\n").encode())
        log.flush()
        srv = start(srv_cmd, log, env=env)
        if not wait_listening(how["listen"], srv):
            res["error"] = f"server did not listen (exit {srv.poll()}); see {log_path}"
            return res
        timeout = prof["run_timeout"] + (n / 500.0)
        if scenario in limits.SCENARIOS:
            rate = lat_rate(prof, n, size)
            extra, timeout = limits.harness_args(scenario, prof, n)
        elif scenario == "slow":
            s = prof["slow"]
            res["slow_cfg"] = s
            rate, extra = s["rate"], ["--slow", "--secs", str(s["nostall_secs"]), "--slow-secs",
                                      str(s["slow_secs"]), "--stall-at", str(s["stall_at"]),
                                      "--stall-secs", str(s["stall_secs"]), "--stall-frac", "0.01"]
        else:
            rate = lat_rate(prof, n, size)
            res["rate"] = rate
            secs = max(prof["lat_secs"], prof["min_records"] / rate)
            extra = ["--secs", f"{secs:g}"]
            if scenario == "tput" and prof["tput"]:
                extra += ["--tput", "--tput-start", f"{rate * prof['tput_start_x']:g}",
                          "--tput-secs", str(prof["tput_secs"]), "--tput-factor", "2",
                          "--tput-max-steps", str(prof["tput_max_steps"]),
                          "--tput-max-deliv", f"{prof['tput_max_deliv']:g}"]
        h_cmd = ["taskset", "-c", HARNESS_CPU, a.client, "--label", name] + how["conn"] + ["--clients",
                 str(n), "--size", str(size), "--server-pid", str(srv.pid), "--rate", f"{rate:g}",
                 "--warm-secs", str(prof["warm"]), "--timeout", f"{timeout:g}"] + extra
        # harness args that end with "-- producer ..." must come last
        h_cmd += h_mode
        log.write(("$ " + " ".join(h_cmd) + "\n").encode())
        log.flush()
        harness = start(h_cmd, log, stdout=subprocess.PIPE)
        try:
            out, _ = harness.communicate(timeout=timeout + 20)
        except subprocess.TimeoutExpired:
            kill_tree(harness)
            out = b""
            res["error"] = "harness exceeded its deadline"
        if harness in _procs:
            _procs.remove(harness)
        for line in out.decode(errors="replace").splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            if d.get("summary"):
                res["summary"] = d
                if d.get("error"):
                    res["error"] = d["error"]
            else:
                res["phases"].append(d)
        if harness.returncode not in (0, None) and not res["error"]:
            res["error"] = f"harness exit {harness.returncode}; see {log_path}"
        # The producer was told to quit: hosting servers should now exit by
        # themselves; Redis and ncat are standalone and are stopped by us.
        # After a storm nobody told the producer anything.
        if scenario == "storm":
            res["server_exit"] = "stopped by the suite after the storm"
        elif name in HOSTING:
            try:
                res["server_exit"] = srv.wait(timeout=5)
            except subprocess.TimeoutExpired:
                res["server_exit"] = "still running 5 s after its program quit (terminated)"
        else:
            res["server_exit"] = "standalone (stopped by the suite)"
        return res
    finally:
        for p in (harness, srv):
            if p is not None:
                kill_tree(p)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if not res["error"]:
            os.unlink(log_path)   # logs are kept for failed runs only

# ---------------------------------------------------------------- statistics


def phase(res, name):
    """The named phase of a run (for tput: the last sustainable step)."""
    for p in res["phases"]:
        if p["phase"] == name:
            return p
    return None


def us_to_ms(v):
    return None if v is None else v / 1000.0


def run_metrics(res):
    """Flat metrics of one run, None where absent."""
    m = {}
    lat = phase(res, "latency") or phase(res, "nostall")
    s = res["summary"] or {}
    if lat:
        m["lat_p50"] = us_to_ms(lat["lat_p50_us"])
        m["lat_p99"] = us_to_ms(lat["lat_p99_us"])
        m["lat_p999"] = us_to_ms(lat["lat_p999_us"])
        m["lat_max"] = us_to_ms(lat["lat_max_us"])
        m["cmp_p50"] = us_to_ms(lat["cmp_p50_us"])
        m["cmp_p99"] = us_to_ms(lat["cmp_p99_us"])
        m["cmp_max"] = us_to_ms(lat["cmp_max_us"])
        m["cpu_us"] = lat["server_cpu_us_per_deliv"] if lat["deliveries"] else None
        m["harness_cpu_s"] = lat["harness_cpu_s"]
    tp = [p for p in res["phases"] if p["phase"] == "tput"]
    if tp:
        m["tput_dps"] = s.get("tput_best_dps") or None
        ok = [p for p in tp if p["sustainable"]]
        if ok:
            best = max(ok, key=lambda p: p["offered_dps"])
            m["tput_cpu_us"] = best["server_cpu_us_per_deliv"]
            m["tput_harness_busy"] = best.get("harness_busy")
    if s:
        m["rss_client_kib"] = s.get("rss_per_client_kib")
        m["join_cpu_us"] = s.get("join_cpu_us_per_client")
        m["join_s"] = (s["connect_s"] + s["ready_s"]) if "connect_s" in s else None
        if s.get("rss_after_kib"):
            m["rss_after_mib"] = s["rss_after_kib"] / 1024.0
    m.update(loss_counts(res))
    return m


def loss_counts(res):
    """Totals over all phases: true loss vs what a gap policy dropped."""
    t = dict(missing=0, missing_after_gap=0, ooo=0, corrupt=0, lost_disconnect=0, disconnects=0, gaps=0)
    for p in res["phases"]:
        for pfx in ("", "stalled_"):
            for k in t:
                t[k] += p.get(pfx + k, 0) or 0
    t["true_loss"] = t["missing"] - t["missing_after_gap"] + t["ooo"] + t["corrupt"]
    return t

# ---------------------------------------------------------------- report


def busy_others(interval=0.5, threshold=0.10):
    """Processes not started by this suite using > threshold of a CPU, sampled
    over interval: on a shared 2-core VM they are the main source of noise."""
    mine = {os.getpid()} | {p.pid for p in _procs}
    def snap():
        out = {}
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) in mine:
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
                rest = st[st.rindex(")") + 2:].split()
                out[int(d)] = (st[st.index("(") + 1:st.rindex(")")], int(rest[11]) + int(rest[12]))
            except (OSError, ValueError, IndexError):
                pass
        return out
    a = snap()
    time.sleep(interval)
    b = snap()
    hz = os.sysconf("SC_CLK_TCK")
    busy = []
    for pid, (name, t) in b.items():
        if pid in a:
            share = (t - a[pid][1]) / hz / interval
            if share > threshold:
                busy.append(f"{name}[{pid}] {share * 100:.0f}%")
    return ", ".join(busy) or "none"


def wait_quiet(limit):
    """Waits (up to limit s) until no process but ours uses over 10% of a
    CPU; returns (seconds waited, what was still busy or None)."""
    t0 = time.time()
    while True:
        busy = busy_others()
        if busy == "none":
            return time.time() - t0, None
        if time.time() - t0 >= limit:
            return time.time() - t0, busy
        time.sleep(2.0)


# The host may take the server's core away (steal, /proc/stat): the machine is
# a VM.  The server is then charged more time per delivery: in one cpu-profile
# run the phases with over 1 % steal on CPU 0 cost every contender 1.5-3 x its
# undisturbed figure (why, this VM cannot show: it has no hardware counters).
# Such a run is repeated, after a pause, up to the profile's steal_retries
# times (default STEAL_RETRIES; none in smoke, which gates no CPU figure); the
# report lists them.
STEAL_MAX, STEAL_RETRIES, STEAL_PAUSE = 0.01, 2, 10.0


def stolen(res):
    """Share of the measured phases' wall time the host stole from the
    server's core, or None where no phase reports it."""
    ps = [p for p in res["phases"] if p.get("phase") != "warmup" and "core0_steal_s" in p]
    wall = sum(p.get("wall_s") or 0 for p in ps)
    if not ps or wall <= 0:
        return None
    return sum(p["core0_steal_s"] for p in ps) / wall


def machine_info(a):
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:
            return ""
    model = sh("lscpu | sed -n 's/^Model name: *//p' | head -1")
    commit = sh(f"git -C {ROOT} rev-parse --short HEAD 2>/dev/null") or "no commit yet"
    dirty = sh(f"git -C {ROOT} status --porcelain 2>/dev/null | wc -l")
    def rd(p):
        try:
            with open(p) as f:
                return f.read().strip()
        except OSError:
            return "?"
    return {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        "host": platform.node(),
        "kernel": platform.release(),
        "cpu": f"{os.cpu_count()} x {model}",
        "commit": f"{commit}" + (f" (+{dirty} uncommitted files)" if dirty not in ("", "0") else ""),
        "redis": sh("redis-server --version | cut -d' ' -f3"),
        "ncat": sh("ncat --version 2>&1 | sed -n 's/^Ncat: Version \\([^ ]*\\).*/\\1/p'"),
        "tcp": f"cc={rd('/proc/sys/net/ipv4/tcp_congestion_control')} rmem=[{rd('/proc/sys/net/ipv4/tcp_rmem')}] "
               f"wmem=[{rd('/proc/sys/net/ipv4/tcp_wmem')}] somaxconn={rd('/proc/sys/net/core/somaxconn')}",
        "load": rd("/proc/loadavg"),
        "others": busy_others(),
    }


def cell_runs(results, cell, contender, rep=None):
    sc, n, s, t = cell
    return [r for r in results if r["contender"] == contender and r["n"] == n and r["size"] == s and
            r["scenario"] == sc and r["transport"] == t and (rep is None or r["rep"] == rep) and
            not r["skipped"] and not r["error"]]


def pair_ratios(results, prof, cell, a, b, key, cell_b=None):
    """key of contender a in cell over key of contender b in cell_b (default:
    the same cell), pair by pair within each repetition."""
    out = []
    for rep in range(prof["reps"]):
        ra, rb = cell_runs(results, cell, a, rep), cell_runs(results, cell_b or cell, b, rep)
        if ra and rb:
            va, vb = run_metrics(ra[0]).get(key), run_metrics(rb[0]).get(key)
            if va and vb:
                out.append(va / vb)
    return out


def transport_section(prof, results, contenders, cells, trs):
    """What each transport costs: ringside against Redis per transport, each
    contender against itself over TCP, and what idle clients and joining cost."""
    L = ["## Transports\n"]
    L.append("Clients reach the server over TCP on loopback, a Unix socket, or TLS over TCP (the harness is an "
             "OpenSSL client offering TLS 1.2/1.3 and, for 1.3, one suite (see 'Negotiated' below), so every "
             "server runs the same cipher; it trusts exactly the suite's self-signed P-256 certificate). Redis' "
             "producer publishes over plain TCP in every cell, ringside's writes to its pty: only the fan-out "
             "side changes. The TLS floor is `floor-send` with OpenSSL (one `SSL_write` per client per chunk); "
             "the io_uring floor has no TLS mode. TLS clients connect in batches of "
             f"{TLS_CONNECT_BATCH}, each batch's handshakes finished before the next.\n")
    L.append("- **RSS per idle client**: (server RSS with all N clients connected, ready and idle − RSS before "
             "the first connect) / N, before any record is sent.")
    L.append("- **join CPU per client**: server CPU from the first connect until all N are ready, / N: accept, "
             "TLS handshake, registration, and for ringside the join notices it sends to the clients already "
             "there (which grow with N).")
    L.append("- **RSS after traffic**: the server's whole RSS, idle again after the phases (ring pages touched, "
             "buffers not given back).\n")
    tls_desc = sorted({(r["contender"], (r["summary"] or {}).get("tls")) for r in results
                       if r["transport"] == "tls" and (r["summary"] or {}).get("tls")})
    if tls_desc:
        L.append("Negotiated: " + "; ".join(f"{c}: {d}" for c, d in tls_desc) + "\n")
    keys = [("cpu_us", "CPU µs/deliv"), ("cmp_p50", "all-clients p50"), ("cmp_p99", "all-clients p99"),
            ("rss_client_kib", "RSS/idle client"), ("join_cpu_us", "join CPU/client"),
            ("tput_dps", "deliveries/s (tput)")]
    if "ringside" in contenders and "redis" in contenders:
        L.append("### ringside / Redis, per transport (per repetition, then median (min–max))\n")
        L.append("Below 1 is better for ringside, except deliveries/s.\n")
        L.append("| N | size | transport | " + " | ".join(k[1] for k in keys) + " |")
        L.append("|---|---|---|" + "---|" * len(keys))
        for cell in sorted(cells, key=lambda c: (c[2], c[1], TRANSPORTS.index(c[3]))):
            rat = [fmt_med(med(pair_ratios(results, prof, cell, "ringside", "redis", k))) for k, _ in keys]
            L.append(f"| {cell[1]} | {size_label(cell[2])} | {cell[3]} | " + " | ".join(rat) + " |")
        L.append("")
    L.append("### Each contender over Unix / TLS against itself over TCP (per repetition)\n")
    L.append("| N | size | contender | transport / tcp | " + " | ".join(k[1] for k in keys) + " |")
    L.append("|---|---|---|---|" + "---|" * len(keys))
    for cell in sorted(cells, key=lambda c: (c[2], c[1], TRANSPORTS.index(c[3]))):
        if cell[3] == "tcp":
            continue
        tcp_cell = cell[:3] + ("tcp",)
        if tcp_cell not in cells:
            continue
        for c in contenders:
            rat = [fmt_med(med(pair_ratios(results, prof, cell, c, c, k, tcp_cell))) for k, _ in keys]
            if any(x != "n/a" for x in rat):
                L.append(f"| {cell[1]} | {size_label(cell[2])} | {c} | {cell[3]} | " + " | ".join(rat) + " |")
    L.append("")
    L.append("### Joining and idle clients (median (min–max))\n")
    L.append("| N | transport | contender | RSS KiB per idle client | join CPU µs per client | connect + ready s | "
             "RSS after traffic MiB |")
    L.append("|---|---|---|---|---|---|---|")
    seen = set()
    for cell in sorted(cells, key=lambda c: (c[1], TRANSPORTS.index(c[3]), c[2])):
        if (cell[1], cell[3]) in seen:
            continue   # one row per N and transport (idle figures do not depend on S)
        seen.add((cell[1], cell[3]))
        for c in contenders:
            ms = [run_metrics(r) for r in cell_runs(results, cell, c)]
            if not ms:
                continue
            g = lambda k: fmt_med(med([m.get(k) for m in ms]))
            L.append(f"| {cell[1]} | {cell[3]} | {c} | {g('rss_client_kib')} | {g('join_cpu_us')} | {g('join_s')} | "
                     f"{g('rss_after_mib')} |")
    L.append("")
    return L


def write_report(path, prof_name, prof, info, results, contenders, elapsed, notes):
    L = []
    L.append(f"# Fan-out benchmark — profile `{prof_name}`\n")
    L.append(f"- date: {info['date']}, run time {elapsed / 60:.1f} min")
    L.append(f"- machine: {info['cpu']}, kernel {info['kernel']}, load at start {info['load']}")
    if info.get("others"):
        L.append(f"- other busy processes on the machine (not ours): at start {info['others']}; "
                 f"at end {info.get('others_end', '?')}")
    L.append(f"- commit: {info['commit']}")
    L.append(f"- redis-server {info['redis']}, ncat {info['ncat']}; {info['tcp']}")
    L.append(f"- placement: server on CPU {SERVER_CPU}, harness + producer on CPU {HARNESS_CPU}; "
             f"{prof['reps']} interleaved repetition(s) per cell; figures are median (min–max)")
    L.append("- latency: per delivery = receive time − scheduled send time (open loop); completion = "
             "when the last client got the record. CPU = server process CPU from /proc "
             "(schedstat, includes the loopback receive softirq it runs), per delivery." +
             (f" A run in which the host stole over {STEAL_MAX:.0%} of the server's core is run again "
              "(listed below)." if any("stolen" in r for r in results) else "") + "\n")
    for n in notes:
        L.append(f"> {n}\n")

    cells = [c for c in prof["cells"] if c[0] not in limits.SCENARIOS]
    sizes = sorted({c[2] for c in cells})
    trs = [t for t in TRANSPORTS if any(c[3] == t for c in cells)]
    for size, tr in [(s_, t_) for t_ in trs for s_ in sizes if any(c[2] == s_ and c[3] == t_ for c in cells)]:
        L.append(f"## Latency mode, {size_label(size)} records, {TRANSPORT_NAME[tr]}\n")
        L.append("| N | contender | rate rec/s | deliv p50 ms | deliv p99 ms | deliv p99.9 ms | deliv max ms | "
                 "all-clients p50 ms | all-clients p99 ms | all-clients max ms | server CPU µs/deliv | "
                 "RSS KiB/client | lost | gap-dropped |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for (sc, n, s, t) in cells:
            if s != size or t != tr:
                continue
            for c in contenders:
                runs = [r for r in results if r["contender"] == c and r["n"] == n and r["size"] == s
                        and r["scenario"] == sc and r["transport"] == t]
                if not runs:
                    continue
                if all(r["skipped"] for r in runs):
                    L.append(f"| {n} | {c} | — | n/a: {runs[0]['skipped']} |" + " |" * 10)
                    continue
                ms = [run_metrics(r) for r in runs if not r["skipped"]]
                errs = [r["error"] for r in runs if r["error"]]
                g = lambda k: fmt_med(med([m.get(k) for m in ms]))
                lost = sum(m["true_loss"] + m["lost_disconnect"] for m in ms)
                gapd = sum(m["missing_after_gap"] for m in ms)
                rate = runs[0].get("rate") or lat_rate(prof, n, s)
                row = (f"| {n} | {c} | {rate:g} | {g('lat_p50')} | {g('lat_p99')} | {g('lat_p999')} | "
                       f"{g('lat_max')} | {g('cmp_p50')} | {g('cmp_p99')} | {g('cmp_max')} | {g('cpu_us')} | "
                       f"{g('rss_client_kib')} | {lost} | {gapd} |")
                if errs:
                    row += f" ⚠ {len(errs)} failed: {errs[0][:80]}"
                L.append(row)
        L.append("")

    tcells = [c for c in cells if c[0] == "tput"]
    if tcells and prof["tput"]:
        L.append("## Throughput mode: last sustainable rate\n")
        L.append("Rate doubled from twice the latency-mode rate (then one bisection step) until a step lost "
                 "records, missed its deadline, had all-clients p99 > 1 s, showed a growing backlog "
                 "(last-quarter median completion > 2 × first-quarter + 25 ms) or delivered its last record "
                 "more than a quarter of the step (+ 0.1 s) after the offered time.\n")
        L.append("'≥' marks a lower bound: either no step failed before the step limit, or the harness itself "
                 "was > 90% busy in the failing step (then the failure may be the harness's, not the "
                 "server's). 'harness busy' is the harness's CPU share at the last sustainable step.\n")
        L.append("| N | size | transport | contender | deliveries/s | server CPU µs/deliv at that rate | harness busy |")
        L.append("|---|---|---|---|---|---|---|")
        for (sc, n, s, t) in tcells:
            for c in contenders:
                runs = [r for r in results if r["contender"] == c and r["n"] == n and r["size"] == s
                        and r["scenario"] == sc and r["transport"] == t and not r["skipped"]]
                if not runs:
                    continue
                ms = [run_metrics(r) for r in runs]
                hb = "≥ " if any((r["summary"] or {}).get("tput_harness_bound") or
                                 not (r["summary"] or {}).get("tput_limit_found", True) for r in runs) else ""
                L.append(f"| {n} | {size_label(s)} | {t} | {c} | {hb}{fmt_med(med([m.get('tput_dps') for m in ms]))} | "
                         f"{fmt_med(med([m.get('tput_cpu_us') for m in ms]))} | "
                         f"{fmt_med(med([m.get('tput_harness_busy') for m in ms]))} |")
        L.append("")

    # Ratios, pair by pair: same cell, same repetition.
    base = "ringside"
    others = [c for c in contenders if c != base]
    if base in contenders and cells:
        L.append(f"## Ratios {base} / X (per repetition, then median (min–max))\n")
        L.append("Below 1 is better for ringside in latency and CPU; above 1 is better in throughput.\n")
        L.append("| N | size | transport | X | deliv p99 | all-clients p50 | all-clients p99 | CPU µs/deliv "
                 "| deliveries/s (tput) |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for (sc, n, s, t) in cells:
            for x in others:
                rat = {k: pair_ratios(results, prof, (sc, n, s, t), base, x, k)
                       for k in ("lat_p99", "cmp_p50", "cmp_p99", "cpu_us", "tput_dps")}
                if any(rat.values()):
                    L.append(f"| {n} | {size_label(s)} | {t} | {x} | {fmt_med(med(rat['lat_p99']))} | "
                             f"{fmt_med(med(rat['cmp_p50']))} | "
                             f"{fmt_med(med(rat['cmp_p99']))} | {fmt_med(med(rat['cpu_us']))} | "
                             f"{fmt_med(med(rat['tput_dps']))} |")
        L.append("")

    if any(t != "tcp" for t in trs):
        L.extend(transport_section(prof, results, contenders, cells, trs))

    L.extend(limits.report_sections(prof, results, contenders))

    slow = [r for r in results if r["scenario"] == "slow"]
    if slow:
        s = next((r["slow_cfg"] for r in slow if r.get("slow_cfg")), prof["slow"]) or \
            dict(n=slow[0]["n"], size=slow[0]["size"], rate="?", stall_secs="?", nostall_secs="?")
        L.append(f"## Slow clients: N = {s['n']}, {size_label(s['size'])} records at {s['rate']} rec/s; "
                 f"1% of clients stop reading for {s['stall_secs']} s\n")
        L.append(f"Stalled clients use SO_RCVBUF = 64 KiB so the kernel does not hide the server's policy. "
                 f"'No stall' is the same connections {s['nostall_secs']} s before the stall phase.\n")
        L.append("| contender | others' deliv p99 ms, no stall | others' deliv p99 ms, with stall | ratio | "
                 "others' max ms | server RSS growth MiB: no stall / stall | stalled: gap markers | stalled: records dropped "
                 "by gap | stalled: disconnects | stalled: max delay ms | others lost | what happened |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for c in contenders + SLOW_EXTRA:
            runs = [r for r in slow if r["contender"] == c]
            if not runs:
                continue
            if all(r["skipped"] for r in runs):
                L.append(f"| {c} | n/a: {runs[0]['skipped']} |" + " |" * 10)
                continue
            rows = []
            for r in runs:
                a_, b_ = phase(r, "nostall"), phase(r, "stall")
                if not a_ or not b_:
                    rows.append(None)
                    continue
                rows.append((a_, b_))
            ok = [x for x in rows if x]
            if not ok:
                L.append(f"| {c} | failed: {runs[0]['error']} |" + " |" * 10)
                continue
            def m(f):
                return med([f(a_, b_) for a_, b_ in ok])
            p99a = m(lambda a_, b_: us_to_ms(a_["lat_p99_us"]))
            p99b = m(lambda a_, b_: us_to_ms(b_["lat_p99_us"]))
            ratio = m(lambda a_, b_: b_["lat_p99_us"] / a_["lat_p99_us"] if a_["lat_p99_us"] else None)
            mx = m(lambda a_, b_: us_to_ms(b_["lat_max_us"]))
            rss0 = m(lambda a_, b_: a_["rss_growth_kib"] / 1024.0)
            rss = m(lambda a_, b_: b_["rss_growth_kib"] / 1024.0)
            gaps = m(lambda a_, b_: b_["stalled_gaps"])
            gapd = m(lambda a_, b_: b_["stalled_missing_after_gap"])
            disc = m(lambda a_, b_: b_["stalled_disconnects"])
            smax = m(lambda a_, b_: us_to_ms(b_["stalled_lat_max_us"]))
            olost = m(lambda a_, b_: b_["missing"] - b_["missing_after_gap"] + b_["lost_disconnect"] + b_["ooo"])
            a0, b0 = ok[0]
            what = []
            grew = b0["rss_growth_kib"] / 1024.0
            if a0["lat_p99_us"] > 1e6:
                what.append("saturated even without the stall")
            if b0["stalled_disconnects"]:
                what.append("disconnected the stalled clients")
            if b0["stalled_gaps"]:
                what.append(f"skipped them ahead ({b0['stalled_gaps']} gap markers, "
                            f"{b0['stalled_missing_after_gap']} records dropped for them)")
            if b0["lat_p99_us"] > 1e6 and a0["lat_p99_us"] <= 1e6:
                what.append("others delayed by seconds while the stall lasted")
            elif b0["lat_p99_us"] > 1e6:
                what.append("others delayed by seconds")
            if not b0["stalled_disconnects"] and not b0["stalled_gaps"]:
                what.append(f"delivered everything to them late (server RSS +{grew:.1f} MiB)")
            if b0["timed_out"]:
                what.append("phase timed out")
            L.append(f"| {c} | {fmt_med(p99a)} | {fmt_med(p99b)} | {fmt_med(ratio)} | {fmt_med(mx)} | "
                     f"{fmt_med(rss0)} / {fmt_med(rss)} | {fmt_med(gaps)} | {fmt_med(gapd)} | {fmt_med(disc)} | {fmt_med(smax)} | "
                     f"{fmt_med(olost)} | {'; '.join(what)} |")
        L.append("")

    noisy = [r for r in results if r.get("others")]
    waited = sum(r.get("waited_s") or 0 for r in results)
    if noisy or waited > 1:
        L.append("## Other load on the machine\n")
        L.append(f"Before each run the suite waited for the machine to be quiet (no other process over 10% of a "
                 f"CPU), {waited / 60:.1f} min in all. Runs that started with other work still busy:\n")
        for r in noisy:
            L.append(f"- {r['contender']} {r['scenario']} N={r['n']} S={r['size']} {r.get('transport', 'tcp')} "
                     f"rep {r['rep']}: {r['others']}")
        if not noisy:
            L.append("- none")
        L.append("")
    repeated = [r for r in results if r.get("stolen_before")]
    if repeated:
        L.append("## Runs repeated because the host took the server's core away\n")
        L.append(f"A latency or throughput run in which the host stole over {STEAL_MAX:.0%} of CPU {SERVER_CPU}'s "
                 f"time was run again after {STEAL_PAUSE:g} s, at most {prof.get('steal_retries', STEAL_RETRIES)} "
                 f"times; the last run "
                 f"counts. Steal per attempt, the kept one last:\n")
        for r in repeated:
            kept = r.get("stolen")
            tries = ", ".join(f"{x:.1%}" for x in r["stolen_before"] + ([kept] if kept is not None else []))
            over = " (still over: kept as measured)" if (kept or 0) > STEAL_MAX else ""
            L.append(f"- {r['contender']} {r['scenario']} N={r['n']} S={r['size']} {r.get('transport', 'tcp')} "
                     f"rep {r['rep']}: {tries}{over}")
        L.append("")
    errs = [r for r in results if r["error"]]
    if errs:
        L.append("## Failed runs\n")
        for r in errs:
            L.append(f"- {r['contender']} {r['scenario']} N={r['n']} S={r['size']} {r.get('transport', 'tcp')} "
                     f"rep {r['rep']}: {r['error']}")
        L.append("")
    exits = sorted({(r["contender"], str(r["server_exit"])) for r in results if not r["skipped"]})
    L.append("Server exit after the producer quit: " +
             ", ".join(f"{c}: {e}" for c, e in exits) + "\n")
    with open(path, "w") as f:
        f.write("\n".join(L))


def write_plots(outdir, prof, results, contenders):
    """latency / CPU per delivery / RSS per client vs N, one SVG each per size."""
    gp = shutil.which("gnuplot")
    if not gp:
        return ["gnuplot not installed: no plots"]
    # PNG where gnuplot has cairo (gnuplot-nox does), SVG otherwise.
    terms = subprocess.run([gp, "-e", "set terminal"], capture_output=True, text=True).stdout + \
        subprocess.run([gp, "-e", "set terminal"], capture_output=True, text=True).stderr
    if "pngcairo" in terms:
        term, ext = "set terminal pngcairo size 800,480 font 'Sans,10'", "png"
    else:
        term, ext = "set terminal svg size 800,480 dynamic font 'Helvetica,12'", "svg"
    made = []
    pcells = [c for c in prof["cells"] if c[0] not in limits.SCENARIOS]
    sizes = sorted({c[2] for c in pcells})
    plots = [("latency", "deliv p99 (ms)", "lat_p99", True), ("cpu", "server CPU µs per delivery", "cpu_us", True),
             ("rss", "server RSS KiB per client", "rss_client_kib", True)]
    for size in sizes:
        ns = sorted({c[1] for c in pcells if c[2] == size})
        if len(ns) < 2:
            continue
        for (kind, ylabel, key, logy) in plots:
            series = []
            # One line per contender and transport ("ringside", "ringside/tls").
            for tr in TRANSPORTS:
                for c in contenders:
                    pts = []
                    for n in ns:
                        ms = [run_metrics(r) for r in results if r["contender"] == c and r["n"] == n and
                              r["size"] == size and r["scenario"] in ("lat", "tput") and not r["skipped"] and
                              r["transport"] == tr]
                        mm = med([m.get(key) for m in ms])
                        if mm and mm[0] is not None and (mm[0] > 0 or not logy):
                            pts.append((n, mm[0], mm[1], mm[2]))
                    if not pts:
                        continue
                    name = c if tr == "tcp" else f"{c}/{tr}"
                    dat = os.path.join(outdir, f"{kind}-{size}-{name.replace('/', '-')}.dat")
                    with open(dat, "w") as f:
                        for p in pts:
                            f.write(f"{p[0]} {p[1]} {p[2]} {p[3]}\n")
                    series.append((name, dat, contenders.index(c), TRANSPORTS.index(tr)))
            if not series:
                continue
            svg = os.path.join(outdir, f"{kind}-vs-N-{size}B.{ext}")
            script = [
                term,
                f"set output '{svg}'",
                f"set title '{ylabel} vs N ({size_label(size)} records)'",
                "set xlabel 'clients N'", f"set ylabel '{ylabel}'",
                "set logscale x", "set key top left", "set grid",
            ]
            if logy:
                script.append("set logscale y")
            # A colour per contender, a dash and point type per transport.
            plots_cmd = ", ".join(f"'{d}' using 1:2:3:4 with yerrorlines lc {ci + 1} dt {ti + 1} pt {ti * 2 + 5} "
                                  f"title '{c}'" for c, d, ci, ti in series)
            script.append("plot " + plots_cmd)
            r = subprocess.run([gp], input="\n".join(script), text=True, capture_output=True, timeout=30)
            if r.returncode == 0:
                made.append(os.path.basename(svg))
    made += limits.write_plots(outdir, prof, results, contenders, gp, term, ext)
    return made

# ---------------------------------------------------------------- main


def progress(i, total, t0, text, tty):
    el = time.time() - t0
    eta = el / i * (total - i) if i else 0
    line = f"[{i:3d}/{total}] {int(el) // 60}:{int(el) % 60:02d} elapsed, eta {int(eta) // 60}:{int(eta) % 60:02d}  {text}"
    if tty:
        sys.stderr.write("\r\033[K" + line)
    else:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=sorted(PROFILES), default="smoke")
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--ringside", default=os.path.join(ROOT, "build", "ringside"))
    ap.add_argument("--out", default=None, help="result directory (default bench/results/<profile>-<time>)")
    ap.add_argument("--contenders", default=None, help="comma-separated subset")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--cells", default=None,
                    help="override the cells: comma-separated SCENARIO:N:SIZE[:TRANSPORT], "
                         "e.g. tput:1000:64,lat:10:1k:tls,storm:10000:64 (scenario lat|tput|storm|mem|ceil|"
                         "embed; transport tcp|unix|tls, default tcp)")
    ap.add_argument("--transport", default=None,
                    help="comma-separated tcp,unix,tls: run every cell (except slow clients) over each of these "
                         "instead of the transport it names")
    ap.add_argument("--tls-suites", default=TLS_SUITES,
                    help=f"TLS 1.3 cipher suites the harness offers, OpenSSL syntax (default {TLS_SUITES})")
    ap.add_argument("--no-slow", action="store_true", help="skip the slow-client scenario")
    ap.add_argument("--slow-only", action="store_true", help="only the slow-client scenario")
    ap.add_argument("--wait-quiet", type=float, metavar="S", default=None,
                    help="before each run, wait up to S seconds until no other process uses over 10%% of a CPU "
                         "(a shared machine); runs that started with others busy are listed in the report "
                         "(default: 180 for quick, full and transport, 0 for smoke)")
    ap.add_argument("--report-only", metavar="DIR", default=None,
                    help="rebuild report.md and plots of an earlier run from DIR/raw.jsonl")
    args = ap.parse_args()
    prof = dict(PROFILES[args.profile])
    if args.reps:
        prof["reps"] = args.reps
    if args.cells:
        cells = []
        for c in args.cells.split(","):
            try:
                parts = c.split(":")
                sc, n, sz = parts[:3]
                tr = parts[3] if len(parts) == 4 else "tcp"
                assert len(parts) in (3, 4) and sc in ("lat", "tput") + limits.SCENARIOS and tr in TRANSPORTS
                mult = 1024 if sz.lower().endswith("k") else 1
                cells.append((sc, int(n), int(sz.rstrip("kK")) * mult, tr))
            except (ValueError, AssertionError):
                ap.error(f"bad cell '{c}': want lat|tput|storm|mem|ceil|embed:N:SIZE[:tcp|unix|tls]")
        prof["cells"] = cells
    if args.transport:
        trs = [t for t in args.transport.split(",") if t]
        bad = [t for t in trs if t not in TRANSPORTS]
        if bad or not trs:
            ap.error(f"--transport: unknown {bad}; known: {TRANSPORTS}")
        # The limit cells keep their transport (a storm is about accepting,
        # not about TLS handshakes).
        prof["cells"] = list(dict.fromkeys((sc, n, s, t) for (sc, n, s, t0) in prof["cells"]
                                           for t in (trs if sc not in limits.SCENARIOS else [t0])))
    if args.no_slow:
        prof["slow"] = None
    if args.slow_only:
        prof["cells"] = []
    contenders = prof["contenders"]
    if args.contenders:
        contenders = [c for c in args.contenders.split(",") if c]
        known = ALL_CONTENDERS + [PTY_FLOOR]
        bad = [c for c in contenders if c not in known]
        if bad:
            ap.error(f"unknown contender(s) {bad}; known: {known}")
    if args.report_only:
        return rebuild_report(args.report_only, args.profile, prof, contenders)
    if args.wait_quiet is None:
        args.wait_quiet = 0 if args.profile == "smoke" else 180
    args.build = os.path.abspath(args.build)
    args.ringside = os.path.abspath(args.ringside)
    args.client = os.path.join(args.build, "fanout-client")
    args.producer = os.path.join(args.build, "producer")
    args.floor = os.path.join(args.build, "floor")
    args.naive = os.path.join(args.build, "naive")
    for b in (args.client, args.producer, args.floor, args.naive):
        if not os.access(b, os.X_OK):
            sys.exit(f"bench: {b} missing; run 'make bench-bins'")
    if os.cpu_count() < 2:
        sys.exit("bench: needs 2 CPUs (server and harness are pinned apart)")
    if not shutil.which("taskset"):
        sys.exit("bench: taskset missing (util-linux); run 'make bench-deps'")

    atexit.register(_cleanup_all)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    _raise_nofile()
    args.cert, args.cert_error = None, None
    if any(c[3] == "tls" for c in prof["cells"]):
        certdir = tempfile.mkdtemp(prefix="rs-bench-cert-")
        atexit.register(shutil.rmtree, certdir, True)
        args.cert, args.cert_error = make_cert(certdir)

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    if args.out:
        outdir = args.out
    elif args.profile == "smoke":
        outdir = os.path.join(os.path.dirname(args.build), "bench-smoke")   # CI: keep the tree clean
    else:
        outdir = os.path.join(HERE, "results", f"{args.profile}-{stamp}")
    os.makedirs(outdir, exist_ok=True)
    logdir = os.path.join(outdir, "logs")
    os.makedirs(logdir, exist_ok=True)

    info = machine_info(args)
    with open(os.path.join(outdir, "info.json"), "w") as f:
        json.dump({"info": info, "profile": args.profile, "contenders": contenders}, f)
    jobs = []
    for rep in range(prof["reps"]):
        for ci, (sc, n, s, tr) in enumerate(prof["cells"]):
            order = contenders[rep % len(contenders):] + contenders[:rep % len(contenders)]
            only = prof.get("cell_contenders", {}).get(sc)
            for c in order:
                if c in SUPPORTS[tr] and (only is None or c in only):
                    jobs.append((sc, n, s, tr, rep, c))
    if prof.get("slow"):
        sl = prof["slow"]
        slow_cs = contenders + ([x for x in SLOW_EXTRA if "ringside" in contenders])
        for rep in range(sl["reps"]):
            order = slow_cs[rep % len(slow_cs):] + slow_cs[:rep % len(slow_cs)]
            for c in order:
                if c.startswith("floor"):
                    continue   # the floor has no slow-client policy: it assumes every client reads
                jobs.append(("slow", sl["n"], sl["size"], "tcp", rep, c))

    tty = sys.stderr.isatty()
    t0 = time.time()
    results = []
    raw = open(os.path.join(outdir, "raw.jsonl"), "w")
    for i, (sc, n, s, tr, rep, c) in enumerate(jobs):
        progress(i, len(jobs), t0, f"{sc} N={n} S={size_label(s)} {tr} rep {rep + 1} {c}", tty)
        waited, others = 0.0, None
        if args.wait_quiet:
            # At most ten full waits in all: a machine busy for good is
            # reported, not waited out.
            budget = 10 * args.wait_quiet - sum(r.get("waited_s") or 0 for r in results)
            waited, others = wait_quiet(min(args.wait_quiet, budget)) if budget > 0 else (0.0, busy_others())
            others = None if others == "none" else others
        res = run_one(args, prof, c, sc, n, s, tr, logdir, f"{sc}-n{n}-s{s}-{tr}-r{rep}")
        repeated = []
        while (sc in ("lat", "tput") and not res["error"]
               and len(repeated) < prof.get("steal_retries", STEAL_RETRIES)
               and (stolen(res) or 0) > STEAL_MAX):
            repeated.append(stolen(res))
            time.sleep(STEAL_PAUSE)
            res = run_one(args, prof, c, sc, n, s, tr, logdir, f"{sc}-n{n}-s{s}-{tr}-r{rep}")
        res["stolen"], res["stolen_before"] = stolen(res), repeated
        res["rep"] = rep
        res["waited_s"], res["others"] = waited, others
        results.append(res)
        raw.write(json.dumps(res) + "\n")
        raw.flush()
        if res["error"]:
            sys.stderr.write(("\n" if tty else "") + f"bench: {c} {sc} N={n} S={s} {tr}: {res['error']}\n")
    progress(len(jobs), len(jobs), t0, "done", tty)
    if tty:
        sys.stderr.write("\n")
    raw.close()
    elapsed = time.time() - t0
    info["others_end"] = busy_others()
    info["elapsed"] = elapsed
    with open(os.path.join(outdir, "info.json"), "w") as f:
        json.dump({"info": info, "profile": args.profile, "contenders": contenders}, f)

    try:
        os.rmdir(logdir)   # only if empty: logs are kept for failed runs
    except OSError:
        pass
    finish_report(outdir, args.profile, prof, info, results, contenders, elapsed)
    return gate(results, contenders)


def finish_report(outdir, prof_name, prof, info, results, contenders, elapsed):
    notes = []
    if prof_name == "smoke":
        notes.append("Smoke profile: one small cell, one run each; a CI check for results and loss, "
                     "not a measurement.")
    report = os.path.join(outdir, "report.md")
    plots = write_plots(outdir, prof, results, contenders)
    write_report(report, prof_name, prof, info, results, contenders, elapsed, notes)
    if plots:
        with open(report, "a") as f:
            f.write("\n## Plots\n\n" + "\n".join(f"![{p}]({p})" for p in plots) + "\n")
    sys.stderr.write(f"bench: report {os.path.relpath(report, ROOT)} ({elapsed / 60:.1f} min)\n")


def rebuild_report(outdir, prof_name, prof, contenders):
    results = [json.loads(l) for l in open(os.path.join(outdir, "raw.jsonl")) if l.strip()]
    meta = os.path.join(outdir, "info.json")
    if os.path.exists(meta):
        with open(meta) as f:
            m = json.load(f)
        info, prof_name, contenders = m["info"], m["profile"], m["contenders"]
        prof = dict(PROFILES[prof_name])
    else:
        info = machine_info(None)
    for r in results:
        r.setdefault("transport", "tcp")   # runs from before the transport dimension
    # cells and repetitions as they were actually run
    prof["cells"] = sorted({(r["scenario"], r["n"], r["size"], r["transport"]) for r in results
                            if r["scenario"] != "slow"},
                           key=lambda c: (TRANSPORTS.index(c[3]), c[0] != "tput", c[2], c[1]))
    prof["reps"] = max([r["rep"] for r in results if r["scenario"] != "slow"] + [0]) + 1
    if not any(r["scenario"] == "slow" for r in results):
        prof["slow"] = None
    finish_report(outdir, prof_name, prof, info, results, contenders, info.get("elapsed", 0))
    return gate(results, contenders)


def gate(results, contenders):
    """Exit status: every contender produced a result over every transport it
    was run on, and nothing was lost.  Timing is never a failure (a 2-core VM
    has ±30% noise)."""
    failed = []
    for c in contenders:
        for tr in TRANSPORTS:
            runs = [r for r in results if r["contender"] == c and r.get("transport", "tcp") == tr]
            if not runs:
                continue   # not part of this run's jobs (e.g. the floor in --slow-only)
            who = c if tr == "tcp" else f"{c} over {tr}"
            # Storm, idle memory and embed runs have no phases (a ceiling
            # search has, and is checked like a throughput cell).
            lruns = [r for r in runs if r["scenario"] in limits.SCENARIOS and r["scenario"] != "ceil"]
            runs = [r for r in runs if r not in lruns]
            for sc in sorted({r["scenario"] for r in lruns}):
                sr = [r for r in lruns if r["scenario"] == sc]
                ok = [r for r in sr if limits.good(r)]
                if not ok and not (c == "ncat" and all(r["skipped"] and r["n"] > NCAT_MAX_N for r in sr)):
                    failed.append(f"{who}: no {sc} result ({sr[0]['skipped'] or sr[0]['error']})")
                failed.extend(limits.gate(ok, who))
            if not runs:
                continue
            good = [r for r in runs if not r["skipped"] and not r["error"] and
                    (phase(r, "latency") or phase(r, "nostall"))]
            # A latency phase that hit its deadline is no result (throughput steps
            # may time out: that only makes them unsustainable).
            for r in good:
                lp = phase(r, "latency") or phase(r, "nostall")
                # In the slow-client scenario a contender that cannot keep up is
                # a finding (reported as saturated), not a missing result.
                if lp["timed_out"] and r["scenario"] != "slow":
                    failed.append(f"{who}: {lp['phase']} phase timed out in {r['scenario']} N={r['n']} "
                                  f"S={r['size']} ({lp.get('undelivered', '?')} records undelivered)")
            if not good:
                why = runs[0]["skipped"] or runs[0]["error"]
                if runs[0]["skipped"] and c == "ncat" and all(r["n"] > NCAT_MAX_N for r in runs):
                    continue
                failed.append(f"{who}: no result ({why})")
                continue
            for r in good:
                lc = loss_counts(r)
                if r["scenario"] != "slow" and (lc["true_loss"] or lc["lost_disconnect"] or lc["missing_after_gap"]):
                    failed.append(f"{who}: lost records in {r['scenario']} N={r['n']} S={r['size']} ({lc})")
    if failed:
        sys.stderr.write("bench: FAILED\n  " + "\n  ".join(failed) + "\n")
        return 1
    trs = sorted({r.get("transport", "tcp") for r in results}, key=TRANSPORTS.index)
    sys.stderr.write(f"bench: all {len(contenders)} contenders produced results ({', '.join(trs)}), "
                     "no records lost\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
