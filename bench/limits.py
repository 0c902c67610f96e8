"""bench/limits.py: the cells that look for limits rather than costs at one
rate, for bench/run.py:

  storm  N clients connecting with every connect in flight at once: the time
         until each is registered, the bytes each receives meanwhile (join
         notices), listener overflows (fanout-client --storm, storm.c)
  mem    what an idle connected client costs the server in RSS, counted from
         W warm clients on (fanout-client --idle)
  ceil   the highest record rate kept up at N clients, in finer steps than
         the throughput mode, with what was busy at the last rate kept up
         and at the first one that was not (server, both cores, their
         softirq, harness, producer, the pty's reads and the server's
         wake-ups)
  embed  the embedding API against the pty path (build/bench/embed-bench):
         ringside without a pty, closed loop, same placement

run.py schedules and runs them; this module knows their harness arguments,
reads their results and writes their report sections.  Python stdlib only.
"""

import json
import os
import subprocess

from benchstats import fmt_med, fmt_num, med, size_label

SCENARIOS = ("storm", "mem", "ceil", "embed")

# A storm leaves clients unregistered only where that is the server's known
# limit, reported as a finding: ncat listens with a backlog of about 10, the
# kernel answers the overflow with SYN cookies, drops the final ACK while the
# accept queue is full, and a client that sends nothing waits for ever.
STORM_SHORT_OK = {"ncat"}
NCAT_PROBE_MS = 20


def ready_mode(scenario, name):
    """The harness's --ready for a contender in a storm or mem cell (None:
    the contender's usual one)."""
    if scenario == "storm":
        return {"ringside": "first", "ringside-lag1m": "first", "floor-send": "first",
                "floor-uring": "first", "naive": "first", "redis": "subscribe", "ncat": "sync"}[name]
    if scenario == "mem" and name.startswith("floor"):
        return "first"
    return None


def needs_greeting(scenario, name):
    """The floor and the naive server say nothing to a new client unless
    asked to (--greet); the storm, and the floor's idle cell, time by it."""
    return (scenario == "storm" and name in ("floor-send", "floor-uring", "naive")) or \
           (scenario == "mem" and name.startswith("floor"))


def producer_args(scenario, prof):
    """Extra producer arguments.  In the ceiling search the producer wakes at
    most once per tick and writes everything due: woken for every record it
    costs ~0.2 of the harness core at 12,800 records/s (a clock_nanosleep()
    and a write() each), which stopped the search before any server did."""
    if scenario == "ceil" and prof["ceil"].get("tick_us"):
        return ["--tick-us", str(prof["ceil"]["tick_us"])]
    return []


def harness_args(scenario, prof, n):
    """(arguments for the harness, its --timeout in s)."""
    if scenario == "storm":
        st = prof["storm"]
        timeout = st["timeout"] + n / 1000.0
        return ["--storm", "--settle-secs", str(st["settle"]), "--probe-ms", str(NCAT_PROBE_MS)], timeout
    if scenario == "mem":
        return ["--idle", "--warm-clients", str(prof["mem"]["warm"])], 60 + n / 200.0
    if scenario == "ceil":
        c = prof["ceil"]
        return ["--secs", str(c["lat_secs"]), "--tput", "--tput-start", f"{c['start']:g}",
                "--tput-secs", str(c["secs"]), "--tput-factor", f"{c['factor']:g}",
                "--tput-max-steps", str(c["max_steps"]), "--tput-max-deliv", f"{c['max_deliv']:g}"], \
            prof["run_timeout"] + c["max_steps"] * (c["secs"] * 3 + 4) + n / 500.0
    raise ValueError(scenario)


def embed_batch(size):
    """Records the API host writes per loop turn: 256 KiB, what the pty path
    reads per readiness (src/program.c's READ_BUDGET), so that both paths
    hand the clients the same amount per turn."""
    return max(1, (256 << 10) // size)


def run_embed(a, prof, n, size, log):
    """One run of embed-bench (API path, then pty path), pinned as the suite
    pins: session on CPU 0, reader and hosted program on CPU 1.  Returns
    (list of result dicts, error or None)."""
    exe = os.path.join(a.build, "embed-bench")
    if not os.access(exe, os.X_OK):
        return [], f"{exe} not built (make {os.path.relpath(exe)})"
    e = prof["embed"]
    cmd = [exe, "--clients", str(n), "--records", str(e["records"]), "--size", str(size), "--mode", "both",
           "--batch", str(embed_batch(size)), "--cpus", "0,1"]
    log.write(("$ " + " ".join(cmd) + "\n").encode())
    log.flush()
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, timeout=e["timeout"])
    except subprocess.TimeoutExpired:
        return [], f"embed-bench exceeded {e['timeout']} s"
    out = []
    for line in r.stdout.decode(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    if r.returncode != 0 or len(out) != 2:
        return out, f"embed-bench exit {r.returncode}, {len(out)} of 2 results"
    return out, None


# ---------------------------------------------------------------- results


def good(r):
    return not r["skipped"] and not r["error"] and (r["summary"] or r.get("embed"))


def gate(runs, who):
    """Problems that fail the suite in these runs of one contender."""
    bad = []
    for r in runs:
        s = r["summary"] or {}
        if r["scenario"] == "storm" and s and s.get("registered", 0) < r["n"] and \
                r["contender"] not in STORM_SHORT_OK:
            bad.append(f"{who}: {r['n'] - s.get('registered', 0)} of {r['n']} clients never registered in the "
                       f"join storm ({s.get('first_error') or 'no answer'})")
    return bad


def _runs(results, sc, n, c, size=None, rep=None):
    return [r for r in results if r["scenario"] == sc and r["n"] == n and r["contender"] == c and
            (size is None or r["size"] == size) and (rep is None or r["rep"] == rep) and good(r)]


def _ratios(results, reps, sc, n, a, b, f, size=None):
    """f(run of a) / f(run of b), pair by pair within each repetition."""
    out = []
    for rep in range(reps):
        ra, rb = _runs(results, sc, n, a, size, rep), _runs(results, sc, n, b, size, rep)
        if ra and rb:
            va, vb = f(ra[0]), f(rb[0])
            if va is not None and vb:
                out.append(va / vb)
    return out


def _g(results, sc, n, c, f, size=None):
    return med([f(r) for r in _runs(results, sc, n, c, size)])


def _s(key):
    return lambda r: (r["summary"] or {}).get(key)


def storm_section(prof, results, contenders, ns):
    L = ["## Join storm: N clients connecting at once\n"]
    L.append("All N connects are started back to back without waiting (one non-blocking `connect()` after the "
             "other, as fast as the harness core issues them). A client counts as registered when it can tell: "
             "ringside, the floors and the naive server by the first byte from the server (ringside's history "
             "replay; the floors and the naive server greet with `--greet`), Redis by the reply to the "
             "`SUBSCRIBE` sent once the connect completed, ncat by the first `@SYNC` line relayed to it from a "
             f"probe connection that sends one every {NCAT_PROBE_MS} ms (late by up to that much). Per client: "
             "from its own `connect()` call; 'all registered': from the first `connect()` to the last "
             "registration. Every listener has a backlog of 4096 (ringside and Redis ask for more or are told "
             "so, the kernel caps it at `somaxconn`), except ncat's built-in 10. Bytes per client: everything a "
             f"client received from its connect until {prof['storm']['settle']} s after the last registration "
             "(history, greetings, join notices). Listen overflows and SYN retransmissions are the kernel's "
             "TcpExt counters over the storm (machine-wide).\n")
    L.append("| N | contender | registered | per client p50 ms | p99 ms | max ms | all registered s | "
             "bytes per client | listen overflows | SYN retransmits | server CPU µs per client |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in ns:
        for c in contenders:
            rs = _runs(results, "storm", n, c)
            if not rs:
                sk = [r for r in results if r["scenario"] == "storm" and r["n"] == n and r["contender"] == c]
                if sk and sk[0]["skipped"]:
                    L.append(f"| {n} | {c} | n/a: {sk[0]['skipped']} |" + " |" * 8)
                continue
            g = lambda k: fmt_med(med([(r["summary"] or {}).get(k) for r in rs]))
            reg = med([r["summary"]["registered"] for r in rs])
            regs = f"{fmt_num(reg[0])} of {n}" if reg[1] == reg[2] else \
                f"{fmt_num(reg[0])} ({fmt_num(reg[1])}–{fmt_num(reg[2])}) of {n}"
            L.append(f"| {n} | {c} | {regs} | {g('reg_p50_ms')} | {g('reg_p99_ms')} | {g('reg_max_ms')} | "
                     f"{g('all_registered_s')} | {g('bytes_per_client_mean')} | {g('listen_overflows')} | "
                     f"{g('syn_retrans')} | {g('server_cpu_us_per_client')} |")
    L.append("")
    if "ringside" in contenders:
        others = [c for c in contenders if c != "ringside"]
        L.append("ringside / X, per repetition, then median (min–max); below 1 is better for ringside:\n")
        L.append("| N | X | all registered | per client p99 | per client max |")
        L.append("|---|---|---|---|---|")
        for n in ns:
            for x in others:
                rat = [fmt_med(med(_ratios(results, prof["reps"], "storm", n, "ringside", x, _s(k))))
                       for k in ("all_registered_s", "reg_p99_ms", "reg_max_ms")]
                if any(v != "n/a" for v in rat):
                    L.append(f"| {n} | {x} | " + " | ".join(rat) + " |")
        L.append("")
        if len(ns) >= 2:
            lo, hi = ns[0], ns[-1]
            a = _g(results, "storm", lo, "ringside", _s("bytes_per_client_mean"))
            b = _g(results, "storm", hi, "ringside", _s("bytes_per_client_mean"))
            if a and b:
                L.append(f"Join notices during a storm: a ringside client received {fmt_med(a)} bytes at N = {lo} "
                         f"and {fmt_med(b)} at N = {hi}; {hi // lo} × the clients, {b[0] / a[0]:.2f} × the bytes "
                         f"per client (one line per client to every client would be {hi // lo} ×). Total "
                         f"{fmt_num(b[0] * hi / 1e6)} MB at N = {hi}.\n")
    return L


def mem_section(prof, results, contenders, ns):
    w = prof["mem"]["warm"]
    L = ["## Memory per idle connected client\n"]
    L.append(f"Server VmRSS growth per client: {w} warm clients connect first, are registered and drained; then "
             f"the other N − {w} connect; once they are registered and nothing has arrived for 300 ms, "
             f"(RSS(N) − RSS({w})) / (N − {w}). What a user pays for one more idle client. 'anon' is the part "
             "in RssAnon (heap); 'from 0' is (RSS(N) − RSS before the first client) / N, the earlier method, "
             "which also charges the server's one-off costs of its first clients to every client. Kernel socket "
             "memory is not in any process's RSS and not counted.\n")
    L.append("| N | contender | RSS B per client | anon B per client | from 0 (old method) | server RSS at N MiB |")
    L.append("|---|---|---|---|---|---|")
    for n in ns:
        for c in contenders:
            rs = _runs(results, "mem", n, c)
            if not rs:
                sk = [r for r in results if r["scenario"] == "mem" and r["n"] == n and r["contender"] == c]
                if sk and sk[0]["skipped"]:
                    L.append(f"| {n} | {c} | n/a: {sk[0]['skipped']} |" + " |" * 3)
                continue
            g = lambda k: fmt_med(med([(r["summary"] or {}).get(k) for r in rs]))
            L.append(f"| {n} | {c} | {g('rss_b_per_client')} | {g('anon_b_per_client')} | "
                     f"{g('rss_b_per_client_from0')} | "
                     f"{fmt_med(med([r['summary']['rss_n_kib'] / 1024.0 for r in rs]))} |")
    L.append("")
    if "ringside" in contenders:
        L.append("ringside / X in RSS per client, per repetition:\n")
        L.append("| N | X | RSS per client |")
        L.append("|---|---|---|")
        for n in ns:
            for x in contenders:
                if x == "ringside":
                    continue
                rat = med(_ratios(results, prof["reps"], "mem", n, "ringside", x, _s("rss_b_per_client")))
                if rat:
                    L.append(f"| {n} | {x} | {fmt_med(rat)} |")
        L.append("")
    return L


def _phases(r):
    return [p for p in r["phases"] if p["phase"] == "tput"]


def _share(p, key):
    return p[key] / p["wall_s"] if p.get(key) is not None and p["wall_s"] else None


# (label, value of a phase).  Shares are of one CPU over the phase's wall time.
CEIL_COLS = [
    ("rec/s", lambda p: p["rate"]),
    ("deliveries/s", lambda p: p["achieved_dps"]),
    ("server CPU", lambda p: _share(p, "server_cpu_s")),
    ("core 0 busy", lambda p: _share(p, "core0_busy_s")),
    ("core 0 softirq", lambda p: _share(p, "core0_softirq_s")),
    ("core 1 busy", lambda p: _share(p, "core1_busy_s")),
    ("harness", lambda p: p.get("harness_busy")),
    ("producer", lambda p: _share(p, "producer_cpu_s")),
    ("steal 0 / 1", None),
    ("pty reads/s", lambda p: p["server_reads"] / p["wall_s"] if p.get("server_reads") is not None else None),
    ("bytes per read", lambda p: p["server_read_bytes"] / p["server_reads"] if p.get("server_reads") else None),
    ("server wake-ups/s", lambda p: p["server_wakeups"] / p["wall_s"] if p.get("server_wakeups") is not None
     else None),
]


def _verdict(p):
    """What was saturated in a phase: shares of one CPU at or above 0.9."""
    out = []
    if (_share(p, "server_cpu_s") or 0) >= 0.9:
        out.append("server CPU")
    if (_share(p, "core0_busy_s") or 0) >= 0.9:
        out.append("core 0")
    if (_share(p, "core1_busy_s") or 0) >= 0.9:
        out.append("core 1")
    if (p.get("harness_busy") or 0) >= 0.9:
        out.append("harness")
    if not p["sustainable"] and not out:
        out.append("nothing ≥ 90%")
    return ", ".join(out) or "—"


def ceil_section(prof, results, contenders, cells):
    c = prof["ceil"]
    L = ["## Ceiling: the highest record rate kept up\n"]
    L.append(f"Open loop as in throughput mode, rate × {c['factor']:.3g} per step of {c['secs']} s from "
             f"{c['start']:g} records/s, until a step is not kept up (records lost, deadline missed, all-clients "
             "p99 > 1 s, a growing backlog, or delivery finished more than a quarter of the step late). The "
             f"producer wakes at most every {c.get('tick_us', 0)} µs and writes what is due in one write (records "
             "keep their own scheduled times). Two rows per contender: the last step kept up and the first one "
             "not kept up (medians over repetitions). Shares are of one CPU over the step: the server process "
             "(schedstat: includes the loopback softirq run in its context), cores 0 and 1 from /proc/stat "
             "(tick-sampled: 'softirq' overlaps with the process it interrupted), the harness (on core 1, with "
             "the producer). 'pty reads' are the server's read() calls (ringside and the naive server read "
             "their pty with read(); the floor reads its pipe), 'wake-ups' its voluntary context switches.\n")
    L.append("| N | size | contender | step | " + " | ".join(k for k, _ in CEIL_COLS) + " | saturated |")
    L.append("|---|---|---|---|" + "---|" * len(CEIL_COLS) + "---|")
    for (_, n, size, _) in cells:
        for con in contenders:
            rs = _runs(results, "ceil", n, con, size)
            if not rs:
                continue
            last = [max([p for p in _phases(r) if p["sustainable"]], key=lambda p: p["rate"], default=None)
                    for r in rs]
            first = [next((p for p in _phases(r) if not p["sustainable"]), None) for r in rs]
            for label, ps in (("last kept up", last), ("first not", first)):
                ps = [p for p in ps if p]
                if not ps:
                    L.append(f"| {n} | {size_label(size)} | {con} | {label} | none" + " |" * (len(CEIL_COLS) + 1))
                    continue
                vals = []
                for k, f in CEIL_COLS:
                    if f is None:
                        vals.append(f"{fmt_num(med([_share(p, 'core0_steal_s') for p in ps])[0])} / "
                                    f"{fmt_num(med([_share(p, 'core1_steal_s') for p in ps])[0])}")
                    else:
                        vals.append(fmt_med(med([f(p) for p in ps])))
                verdicts = sorted({_verdict(p) for p in ps})
                L.append(f"| {n} | {size_label(size)} | {con} | {label} | " + " | ".join(vals) + " | " +
                         "; ".join(verdicts) + " |")
    L.append("")
    if "ringside" in contenders:
        L.append("ringside / X, highest rate kept up, per repetition:\n")
        L.append("| N | size | X | rate kept up |")
        L.append("|---|---|---|---|")
        for (_, n, size, _) in cells:
            for x in contenders:
                if x == "ringside":
                    continue
                rat = med(_ratios(results, prof["reps"], "ceil", n, "ringside", x,
                                  lambda r: (r["summary"] or {}).get("tput_best_rate") or None, size))
                if rat:
                    L.append(f"| {n} | {size_label(size)} | {x} | {fmt_med(rat)} |")
        L.append("")
    return L


def embed_section(prof, results, cells):
    L = ["## The embedding API against the pty path (no harness)\n"]
    L.append(f"`embed-bench --size S --records {prof['embed']['records']} --batch 256KiB/S --cpus 0,1`: "
             "ringside's library on CPU 0 writes records as fast as it can to N raw clients, through "
             "`ringside_write()` (no pty; a loop turn after every 256 KiB, as much as the pty path reads per "
             "readiness) or as a hosted program on a pty (the CLI's path, the program on CPU 1); one reader "
             "process on CPU 1 reads every byte and only counts lines. Closed loop: the rate is what the pair "
             "sustains. CPU: the session process's user + system time.\n")
    L.append("| N | size | path | deliveries/s | CPU ns per delivery |")
    L.append("|---|---|---|---|---|")
    for (_, n, size, _) in cells:
        rs = [r for r in results if r["scenario"] == "embed" and r["n"] == n and r["size"] == size and good(r)]
        for path in ("api", "pty"):
            ps = [e for r in rs for e in r["embed"] if e.get("path") == path]
            if ps:
                L.append(f"| {n} | {size_label(size)} | {path} | "
                         f"{fmt_med(med([e['deliveries_per_s'] for e in ps]))} | "
                         f"{fmt_med(med([e['cpu_ns_per_delivery'] for e in ps]))} |")
        rat = [e_api["deliveries_per_s"] / e_pty["deliveries_per_s"] for r in rs
               for e_api in r["embed"] if e_api.get("path") == "api"
               for e_pty in r["embed"] if e_pty.get("path") == "pty" and e_pty["deliveries_per_s"]]
        if rat:
            L.append(f"| {n} | {size_label(size)} | api / pty, per run | {fmt_med(med(rat))} | |")
    L.append("")
    return L


def write_plots(outdir, prof, results, contenders, gp, term, ext):
    """The ceiling search, one plot per cell: deliveries/s achieved and the
    server's and the harness core's CPU share against the offered rate
    (medians over repetitions of the steps each run made)."""
    made = []
    for (sc, n, size, _) in prof["cells"]:
        if sc != "ceil":
            continue
        series = []
        for ci, c in enumerate(contenders):
            steps = {}
            for r in _runs(results, "ceil", n, c, size):
                for p in _phases(r):
                    steps.setdefault(round(p["rate"]), []).append(p)
            if not steps:
                continue
            dat = os.path.join(outdir, f"ceiling-{n}-{size}-{c}.dat")
            with open(dat, "w") as f:
                for rate in sorted(steps):
                    ps = steps[rate]
                    f.write(f"{rate} {med([p['achieved_dps'] for p in ps])[0]} "
                            f"{med([_share(p, 'server_cpu_s') for p in ps])[0]} "
                            f"{med([_share(p, 'core1_busy_s') for p in ps])[0]}\n")
            series.append((c, dat, ci))
        if not series:
            continue
        png = os.path.join(outdir, f"ceiling-N{n}-{size}B.{ext}")
        script = [term.replace("800,480", "800,800"), f"set output '{png}'", "set multiplot layout 2,1",
                  f"set title 'ceiling search, N = {n}, {size_label(size)} records: deliveries/s kept vs offered'",
                  "set logscale x", "set logscale y", "set grid", "set key top left",
                  "set xlabel 'offered records/s'", "set ylabel 'deliveries/s received'",
                  "plot " + ", ".join(f"'{d}' using 1:2 with linespoints lc {ci + 1} title '{c}'"
                                      for c, d, ci in series) +
                  f", x*{n} with lines lc rgb 'gray' dt 2 title 'offered'",
                  "set title 'CPU share: server (solid), harness core (dashed)'", "unset logscale y",
                  "set yrange [0:1.1]", "set ylabel 'share of one CPU'",
                  "plot " + ", ".join(f"'{d}' using 1:3 with linespoints lc {ci + 1} title '{c}', "
                                      f"'{d}' using 1:4 with lines lc {ci + 1} dt 2 notitle"
                                      for c, d, ci in series),
                  "unset multiplot"]
        r = subprocess.run([gp], input="\n".join(script), text=True, capture_output=True, timeout=30)
        if r.returncode == 0:
            made.append(os.path.basename(png))
    return made


def report_sections(prof, results, contenders):
    cells = prof["cells"]
    L = []
    for sc, fn in (("storm", storm_section), ("mem", mem_section)):
        ns = sorted({c[1] for c in cells if c[0] == sc})
        if ns:
            L.extend(fn(prof, results, contenders, ns))
    cc = [c for c in cells if c[0] == "ceil"]
    if cc:
        L.extend(ceil_section(prof, results, contenders, cc))
    ec = [c for c in cells if c[0] == "embed"]
    if ec:
        L.extend(embed_section(prof, results, ec))
    return L
