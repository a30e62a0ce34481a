"""Crash matrix: `transit-operator run` killed (SIGKILL) at every write of a cold start, a delete and a HAProxy
config rollout, before and after the write applied, on the cloud (ARM, Databricks) and on Kubernetes (the
operator's own objects: finalizers, status, annotations), for both options - then started again.

    python bench/crash_matrix.py            # every crash point (the full matrix; an hour or more)
    python bench/crash_matrix.py --quick    # the test suite's sample (tests/matrices/test_crash_matrix.py)
    python bench/crash_matrix.py --jobs 2   # points in parallel (each its own sandbox and operator)
    python bench/crash_matrix.py --only haproxy-create-kubernetes      # the points whose id starts so

A point converges when the phase ends (Ready, or gone) after the restart with the cloud holding exactly what
an uninterrupted run leaves - nothing duplicated, nothing leaked, nothing created twice (`tests/matrices/
crash.py`). The writes of each phase are counted in an uninterrupted run first (also the reference).

    ratio crash points converged: X/N      N: points whose write was reached and the operator killed there
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from matrices.crash import CrashPoint, CrashVerdict, count_writes, points, run_phase, run_point
from matrices.test_crash_matrix import SAMPLE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the test suite's sample of points")
    parser.add_argument("--full", action="store_true", help="every point (the default)")
    parser.add_argument("--jobs", type=int, default=1, help="points run at once")
    parser.add_argument("--only", action="append", default=[], metavar="PREFIX",
                        help="points whose id starts with PREFIX (e.g. haproxy-create-kubernetes-), of the "
                             "sample with --quick, else of the whole matrix (only the phases it names are counted)")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: every sandbox and operator process is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = time.perf_counter()
    selected: list[CrashPoint]
    def named(text: str) -> bool:
        return not args.only or any(text.startswith(prefix) or prefix.startswith(text) for prefix in args.only)

    if args.quick:
        selected = [p for p in SAMPLE if not args.only or any(p.id.startswith(t) for t in args.only)]
        wanted = {(p.option, p.phase) for p in selected if p.phase != "rollout"}
        runs = {key: run_phase(*key) for key in sorted(wanted)}
    else:
        runs = count_writes(phases=named)
        selected = [p for p in points(runs) if not args.only or any(p.id.startswith(t) for t in args.only)]
        for (option, phase), run in sorted(runs.items()):
            print(f"{option} {phase}: {len(run.writes['cloud'])} cloud writes, "
                  f"{len(run.writes['kubernetes'])} Kubernetes writes", flush=True)
    print(f"{len(selected)} crash points", flush=True)

    def one(point: CrashPoint) -> CrashVerdict:
        run = runs.get((point.option, point.phase))
        verdict = run_point(point, run.snapshot if run is not None and point.phase != "rollout" else None)
        mark = "ok" if verdict.converged else "NOT REACHED" if not verdict.reached else "FAILED"
        print(f"{point.id:55} {mark:11} {verdict.seconds:5.1f} s  {verdict.killed_at or ''}", flush=True)
        for problem in verdict.problems:
            print(f"    {problem}", flush=True)
        return verdict

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        verdicts = list(pool.map(one, selected))

    reached = [v for v in verdicts if v.reached]
    by_group: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for verdict in reached:
        group = f"{verdict.point.option} {verdict.point.phase} {verdict.point.channel}"
        by_group[group] += 1
        failed[group] += not verdict.converged
    for group in sorted(by_group):
        print(f"{group:40} {by_group[group] - failed[group]}/{by_group[group]} converged")
    print(f"points not reached (the run made fewer writes than the count): {len(verdicts) - len(reached)}")
    print(f"seconds: {time.perf_counter() - started:.0f}")
    print(f"ratio crash points converged: {sum(v.converged for v in reached)}/{len(reached)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
