"""Fault matrix: ARM (reads, writes, LRO polls and outcomes), Databricks and Kubernetes calls fail - 429 with
Retry-After, 5xx, a connection reset mid-answer, an LRO Failed or Canceled, 409 on a status patch, a watch
ending 410 - and the operator still converges, duplicates nothing and honours the servers' hints.

    python bench/fault_matrix.py            # every case (tests/matrices/fault.py)
    python bench/fault_matrix.py --quick    # the test suite's sample

Printed, counted in this run:

    ratio fault cases converged: X/N        N: the cases whose fault the run hit
    ratio retry-after honoured: X/N         N: hinted answers followed by another attempt; honoured when it
                                            came no sooner than the Retry-After (shortest wait printed)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from matrices.fault import CASES, FaultVerdict, run_matrix
from matrices.test_fault_matrix import SAMPLE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the test suite's sample")
    parser.add_argument("--only", action="append", default=[], metavar="TEXT", help="cases whose id contains TEXT")
    args = parser.parse_args(argv)
    cases = [c for c in (SAMPLE if args.quick else CASES) if not args.only or any(t in c.id for t in args.only)]
    started = time.perf_counter()

    def report(verdict: FaultVerdict) -> None:
        case = verdict.case
        mark = "ok" if verdict.converged else "not exercised" if not verdict.exercised else "FAILED"
        waits = f" waits {min(verdict.waits):.2f}-{max(verdict.waits):.2f} s" if verdict.waits else ""
        print(f"{case.option:18} {case.phase:6} {case.call:28} {case.fault:32} x{case.count} hit {verdict.fired}"
              f"{waits}  {mark}", flush=True)
        for problem in verdict.problems:
            print(f"    {problem[:800]}", flush=True)
        if not verdict.exercised and case.note:
            print(f"    {case.note}", flush=True)

    verdicts = run_matrix(cases, report)
    exercised = [v for v in verdicts if v.exercised]
    waits = [(w, v.case.retry_after or 0) for v in verdicts for w in v.waits]
    print(f"{len(cases)} cases in {time.perf_counter() - started:.0f} s; not exercised (the operator makes no such "
          f"call): {len(verdicts) - len(exercised)}")
    if waits:
        print(f"shortest wait after a Retry-After: {min(w - r for w, r in waits):+.2f} s beyond the hint")
    print(f"ratio fault cases converged: {sum(v.converged for v in exercised)}/{len(exercised)}")
    print(f"ratio retry-after honoured: {sum(w >= r for w, r in waits)}/{len(waits)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
