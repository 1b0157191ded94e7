"""``python -m bench.scale --n 10,100,500,1000``: the scale benchmark (issue 9, item 5).

For each N, one after the other: the emulated API with the pod simulator in a process of its
own, the operator in another (``python -m finnexus_operator run``), N FinNexusDeployments
deployed, then all released at once; prints a table. Not a test: a figure-printing benchmark.
Everything listens on 127.0.0.1 only and every child process is stopped on any exit.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from bench.scale.report import table
from bench.scale.run import Figures, Options, run_once

__all__ = ["main"]


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds every finally: children stopped


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", default="10,100,500,1000",
                        help="comma-separated numbers of resources (default 10,100,500,1000)")
    parser.add_argument("--replicas", type=int, default=1, help="pods per colour (default 1)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds each phase may take before the run gives up (default 300)")
    parser.add_argument("--quiet-seconds", type=float, default=20.0,
                        help="idle window after everything is Stable (default 20)")
    parser.add_argument("--ready-delay", type=float, default=0.0,
                        help="seconds from a pod's creation to Ready (default 0)")
    parser.add_argument("--operator-arg", action="append", default=[], metavar="ARG",
                        help="an extra argument of the operator under test, repeatable "
                        "(e.g. --operator-arg=--api-qps --operator-arg=0)")
    parser.add_argument("--workdir", help="where logs and kubeconfigs go (default: a temp dir)")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.n.split(",") if x.strip()]
    opts = Options(replicas=args.replicas, timeout=args.timeout,
                   quiet_seconds=args.quiet_seconds, ready_delay=args.ready_delay,
                   operator_args=tuple(args.operator_arg))
    signal.signal(signal.SIGTERM, _interrupted)
    figures: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(args.workdir or tmp)
        for n in sizes:
            started = time.monotonic()
            try:
                figures.append(run_once(n, root / f"n{n}", opts,
                                        lambda line: print(line, file=sys.stderr, flush=True)))
            except (RuntimeError, TimeoutError) as exc:
                print(f"N={n}: failed: {exc} (logs in {root / f'n{n}'})", file=sys.stderr)
                figures.append(Figures(n, notes=[f"failed: {exc}"]))
            print(f"N={n}: run took {time.monotonic() - started:.0f} s", file=sys.stderr,
                  flush=True)
        print(table(figures, args.replicas, args.quiet_seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
