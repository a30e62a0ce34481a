"""Hostile inputs: how many of the corpus' hostile CRs and Secrets are refused with no cloud write, and how
many secret values leak, through `transit-operator plan` and through the whole operator in the sandbox.

    python bench/hostile_inputs.py [--quick]

The corpus is `tests/hostile/corpus.py` (one table; the test suite runs all of it in
`tests/hostile/test_hostile_corpus.py`). Each case expects a refusal by the API server or by the operator
(naming the field, with 0 writes in the sandbox's request logs), or to be accepted and harmless
(converged, writing only in its own resource group). Printed, counted in this run:

    ratio hostile inputs refused with 0 writes: X/N      N: the cases that must be refused
    ratio hostile inputs accepted harmlessly: X/N        N: the cases that must be accepted
    ratio plan verdicts as expected: X/N                 N: every case (plan refuses what the cluster does)
    ratio secret leaks: L                                canary occurrences in statuses, Events and logs

`--quick` runs every other case.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hostile.corpus import CASES
from hostile.harness import judge_plan, run_cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every other case")
    args = parser.parse_args(argv)
    cases = list(CASES[::2] if args.quick else CASES)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hostile-plan-") as tmp:
        plans = [judge_plan(case, Path(tmp)) for case in cases]
    plan_seconds = time.perf_counter() - started
    started = time.perf_counter()
    run = run_cluster(cases)
    cluster_seconds = time.perf_counter() - started

    verdicts = [run.verdicts[case.id] for case in cases]
    must_refuse = [v for v in verdicts if v.case.refused]
    must_accept = [v for v in verdicts if not v.case.refused]
    refused = sum(v.ok for v in must_refuse)
    accepted = sum(v.ok for v in must_accept)
    leaks = run.leaks + sum(p.leaked for p in plans)

    print(f"{'case':45} {'plan':>7} {'cluster':>9} {'writes':>6}  verdict")
    for plan, verdict in zip(plans, verdicts, strict=True):
        if not (plan.ok and verdict.ok):
            print(f"{verdict.case.id:45} {plan.code:>7} {verdict.case.cluster:>9} {verdict.writes:>6}  "
                  f"{'ok' if verdict.ok else 'WRONG'} / plan {'ok' if plan.ok else 'WRONG'}")
    print(f"{len(cases)} cases: plan {plan_seconds:.1f} s, operator in the sandbox {cluster_seconds:.1f} s; "
          f"cloud writes nobody's group explains: {len(run.unattributed_writes)}; "
          f"ReconcileError events: {len(run.reconcile_errors)}")
    print(f"ratio hostile inputs refused with 0 writes: {refused}/{len(must_refuse)}")
    print(f"ratio hostile inputs accepted harmlessly: {accepted}/{len(must_accept)}")
    print(f"ratio plan verdicts as expected: {sum(p.ok for p in plans)}/{len(plans)}")
    print(f"ratio secret leaks: {leaks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
