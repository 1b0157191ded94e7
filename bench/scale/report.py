"""The benchmark's table: one column per N, then growth per object from the smallest N to
the largest."""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence

from bench.scale.run import STEPS, Figures

__all__ = ["percentile", "table"]


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1]


def _s(value: float | None, unit: str = " s", digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def _per_object(counts: dict[tuple[str, str], int], n: int) -> float:
    return sum(counts.values()) / n


def _kinds(counts: dict[tuple[str, str], int], n: int) -> str:
    """Requests per object by verb and resource, most first; what is under 0.05 per object
    (the watch streams and discovery of the start) summed as ``others``."""
    ranked = collections.Counter(counts).most_common()
    shown = [f"{verb} {res} {c / n:.1f}" for (verb, res), c in ranked if c / n >= 0.05]
    rest = sum(c for c in counts.values() if c / n < 0.05)
    return ", ".join(shown + ([f"others {rest / n:.2f}"] if rest else [])) or "-"


def table(figures: Sequence[Figures], replicas: int, quiet: float) -> str:
    figs = sorted(figures, key=lambda f: f.n)
    rows: list[tuple[str, list[str]]] = [
        ("time until all deployed (first time)", [_s(f.deployed_s) for f in figs]),
        ("time until all released", [_s(f.released_s) for f in figs]),
    ]
    for step, (seen, made) in STEPS.items():
        rows.append((f"decision {step} ({seen} -> {made}) p50 / p99",
                     [f"{_ms(percentile(f.latency.get(step, []), 50))} / "
                      f"{_ms(percentile(f.latency.get(step, []), 99))}" for f in figs]))
    rows += [
        ("API requests per object, first deployment",
         [f"{_per_object(f.requests_first, f.n):.1f}" for f in figs]),
        ("API requests per object, release", [f"{_per_object(f.requests_release, f.n):.1f}"
                                              for f in figs]),
        (f"idle requests per object per minute ({quiet:.0f} s window)",
         [_s(f.idle_per_object_minute, "", 2) for f in figs]),
        ("operator CPU: first deployment / release / idle window",
         [f"{f.cpu_first_s:.1f} / {f.cpu_release_s:.1f} / {f.cpu_idle_s:.1f} s" for f in figs]),
        ("operator CPU total (user+sys)", [_s(f.cpu_total_s, " s", 1) for f in figs]),
        ("API + pod simulator CPU during the release (not the operator)",
         [_s(f.world_cpu_release_s, " s", 1) for f in figs]),
        ("operator peak RSS (VmHWM)", [f"{f.rss_kb / 1024:.0f} MiB" for f in figs]),
        ("one release among N-1 idle resources (template -> Stable)",
         [_s(f.one_release_s) for f in figs]),
        ("  its deploy / switch / promote decisions",
         [" / ".join(_ms(f.one_release_latency.get(step)) for step in STEPS) for f in figs]),
        ("restart -> all reconciled once", [_s(f.restart_s) for f in figs]),
        ("restart -> /metrics answers (process start)", [_s(f.restart_metrics_s) for f in figs]),
    ]
    head = ["figure", *[f"N={f.n}" for f in figs]]
    lines = [f"replicas {replicas}, all released at once; operator requests only "
             "(User-Agent finnexus-operator/ or kopf/)", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join([label, *cells]) + " |" for label, cells in rows]
    if len(figs) >= 2 and figs[-1].n > figs[0].n:
        a, b = figs[0], figs[-1]
        dn = b.n - a.n
        lines += ["", f"growth per object from N={a.n} to N={b.n}:",
                  f"- requests per object per release: {_per_object(a.requests_release, a.n):.1f}"
                  f" -> {_per_object(b.requests_release, b.n):.1f}",
                  f"- CPU per added object (whole run): "
                  f"{(b.cpu_total_s - a.cpu_total_s) / dn * 1000:.1f} ms",
                  f"- CPU per added object (release): "
                  f"{(b.cpu_release_s - a.cpu_release_s) / dn * 1000:.1f} ms",
                  f"- peak RSS per added object: {(b.rss_kb - a.rss_kb) / dn:.1f} KiB"]
    for f in figs:
        lines += ["", f"N={f.n} requests per object, release: {_kinds(f.requests_release, f.n)}",
                  f"N={f.n} requests per object, first deployment: "
                  f"{_kinds(f.requests_first, f.n)}",
                  f"N={f.n} idle requests in the window: {_kinds(f.idle_requests, 1)}"]
        if f.restart_method and f.restart_method != "reconcile count":
            lines.append(f"N={f.n} restart measured by: {f.restart_method}")
        lines += [f"N={f.n} note: {note}" for note in f.notes]
    return "\n".join(lines)
