"""bench/benchstats.py: the summary statistics and number formatting the
report uses (median with min-max over repetitions), shared by run.py and
limits.py.  Python stdlib only."""

import statistics


def med(vals):
    """(median, min, max, count) of the values that are not None, or None."""
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return (statistics.median(vals), min(vals), max(vals), len(vals))


def fmt_num(v, digits=3):
    if v is None:
        return "n/a"
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.{digits - 1}f}" if a >= 1 else f"{v:.{digits}g}"


def fmt_med(m, unit=""):
    if m is None:
        return "n/a"
    v, lo, hi, k = m
    if k == 1 or lo == hi:
        return f"{fmt_num(v)}{unit}"
    return f"{fmt_num(v)}{unit} ({fmt_num(lo)}–{fmt_num(hi)})"


def size_label(s):
    return f"{s // 1024} KiB" if s >= 1024 else f"{s} B"
