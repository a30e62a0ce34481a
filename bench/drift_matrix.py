"""Drift matrix: every managed resource type deleted and modified out of band (the sandbox's admin
operations, acting as the cloud would), and whether the operator repairs it in one pass with an Event.

    python bench/drift_matrix.py [--quick]

Cases are `tests/matrices/drift.py`'s table (the test suite runs all of it). Each expects to be repaired
(the first pass after the change writes the repair and posts an Event naming it; then everything is Ready
and the cloud is as before), reported (repair would be unsafe: the object's condition says what and how to
fix it), or refused by Azure (that drift cannot happen). Printed, counted in this run:

    ratio drift cases repaired: X/N     N: the cases that must be repaired
    ratio drift cases reported: X/N     N: the cases where repairing would be unsafe
    ratio drift cases refused by Azure: X/N

`--quick` is the same run (the table takes about a minute).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from matrices.drift import CASES, DriftVerdict, run_matrix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the same table (kept for bench/run_all.py)")
    parser.add_argument("--only", action="append", default=[], metavar="TEXT", help="cases whose id contains TEXT")
    args = parser.parse_args(argv)
    cases = [c for c in CASES if not args.only or any(t in c.id for t in args.only)]
    started = time.perf_counter()

    def report(verdict: DriftVerdict) -> None:
        case = verdict.case
        print(f"{case.option:18} {case.resource:22} {case.change:7} expected {case.expect:9} "
              f"{'ok' if verdict.ok else 'WRONG: ' + str(verdict.outcome)}", flush=True)
        if case.why:
            print(f"    why: {case.why}", flush=True)
        for problem in verdict.problems:
            print(f"    {problem[:600]}", flush=True)

    verdicts = run_matrix(cases, report=report)
    print(f"{len(cases)} cases in {time.perf_counter() - started:.0f} s")
    for expect in ("repaired", "reported", "refused"):
        group = [v for v in verdicts if v.case.expect == expect]
        label = "refused by Azure" if expect == "refused" else expect
        print(f"ratio drift cases {label}: {sum(v.ok for v in group)}/{len(group)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
