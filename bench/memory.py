"""Memory of planning, and the size of a full status object.

    python bench/memory.py [--quick]

Planning: for N = 1, 100, 1000 (--quick: 1, 3, 10) ConfluentPrivateLinks (3 zones, managed DNS) and as
many haproxy ServerlessTransits (3 instances) referencing them, validate each body with the API models
and build its plan (`transit_operator.plan.build_plan`), keeping every plan (what `transit-operator plan`
holds for N CRs). Each N runs in a fresh interpreter: first the RSS growth (/proc/self/status VmRSS,
tracing off), then, after dropping everything, the same work under tracemalloc: the bytes still held
(`current`) and the peak. Bytes per object = held / N; the ratio between sizes says whether planning
grows linearly (1.0) or carries a fixed cost that 1 object pays alone.

Status size: a 3-zone transit with 20 instances (the API's maximum) is reconciled to Ready in the sandbox
through the real reconciler; its status and the whole object are serialised as JSON (what etcd stores,
give or take protobuf framing) and compared with etcd's 1.5 MiB object limit; also a worst case with an
apply error of the longest kind kept on every instance. The tracemalloc peak of one steady-state
reconcile pass of that transit is shown too (an upper bound: the emulator runs in the same process).
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

from _bodies import LOCATION, ZONES, cpl_body, div, ratio, sxt_body, table

ETCD_LIMIT = int(1.5 * 1024 * 1024)
SUB = "2b5e2c1a-7f4d-4c59-9a8e-5a0d1c9e0001"
ACCOUNT = "0d9c1b4a-5e6f-4a3b-8c2d-1e0f9a8b7c6d"


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def bodies(n: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(ConfluentPrivateLink with a Ready status, ServerlessTransit) bodies, as the API server hands them."""
    out = []
    for i in range(n):
        rg = f"rg-bench-{i}"
        cpl = cpl_body(i, SUB, rg)
        cpl["status"] = {
            "observedGeneration": 1,
            "conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled", "message": "",
                            "observedGeneration": 1}],
            "zones": [{"name": z, "privateIp": f"10.20.3.{4 + k}", "connectionState": "Approved"}
                      for k, z in enumerate(ZONES)],
        }
        out.append((cpl, sxt_body(i, SUB, rg, ACCOUNT, 7_100_000_000_000_000 + i, instances=3, concurrency=5)))
    return out


def plan_all(items: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[Any]:
    from transit_operator.api.v1alpha1 import ConfluentPrivateLink, ServerlessTransit
    from transit_operator.plan import build_plan

    plans = []
    for cpl_raw, sxt_raw in items:
        cpl = ConfluentPrivateLink.model_validate(cpl_raw)
        sxt = ServerlessTransit.model_validate(sxt_raw)
        plans.append(build_plan(cpl, related={}))
        plans.append(build_plan(sxt, related={"confluentPrivateLink": cpl}))
    return plans


def child(n: int) -> None:
    """One size, in a fresh interpreter: prints one JSON line."""
    import transit_operator.plan  # noqa: F401  (imports are not what is measured)

    plan_all(bodies(1))  # warm lazily built things (pydantic validators, regexes) so N=1 is not all set-up
    gc.collect()
    items = bodies(n)
    before = rss_bytes()
    plans = plan_all(items)
    grown = rss_bytes() - before
    del plans
    gc.collect()
    tracemalloc.start()
    plans = plan_all(items)
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"n": n, "rss": grown, "current": current, "peak": peak, "plans": len(plans)}))


def planning(sizes: tuple[int, ...]) -> dict[int, dict[str, int]]:
    out = {}
    for n in sizes:
        proc = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True,
                              timeout=600, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"child N={n} failed: {proc.stderr[-3000:]}")
        out[n] = json.loads(proc.stdout.splitlines()[-1])
    return out


def status_size() -> tuple[list[tuple[object, ...]], int, int]:
    from _world import World  # the cloud clients: not in the planning children

    with World() as world:
        (pair,) = world.add_pairs(1, instances=20, concurrency=20)
        world.until_ready()
        gc.collect()
        tracemalloc.start()
        pair.reconcile_sxt(world.ctx)
        _, pass_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sxt, cpl = copy.deepcopy(pair.sxt), copy.deepcopy(pair.cpl)
    worst = copy.deepcopy(sxt)
    for inst in worst["status"]["haproxy"]["instances"]:
        # runcommand keeps at most 300 characters of Azure's message, after the state and code
        inst["lastError"] = "error: Conflict: " + "x" * 300
    for c in worst["status"]["conditions"]:
        c["message"] = c["message"] + " " + "; ".join(f"{i}: " + "x" * 317 for i in range(20))

    def size(obj: Any) -> int:
        return len(json.dumps(obj, separators=(",", ":")).encode())

    rows: list[tuple[object, ...]] = [
        ("ServerlessTransit 3 zones, 20 instances, Ready", size(sxt["status"]), size(sxt)),
        ("  worst case: every instance with an apply error", size(worst["status"]), size(worst)),
        ("ConfluentPrivateLink 3 zones, Ready", size(cpl["status"]), size(cpl)),
    ]
    rows = [(*r, div(float(r[2]), ETCD_LIMIT) * 100) for r in rows]  # type: ignore[arg-type]
    return rows, size(worst), pass_peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1, 3, 10 (the smoke test)")
    parser.add_argument("--sizes", help="comma-separated N, three of them (default 1,100,1000)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child)
        return 0
    sizes = (1, 3, 10) if args.quick else (1, 100, 1000)
    if args.sizes:
        sizes = tuple(int(n) for n in args.sizes.split(","))
        if len(sizes) != 3:
            parser.error("--sizes takes three numbers")
    got = planning(sizes)
    print(f"planning N ConfluentPrivateLinks + N ServerlessTransits ({LOCATION}, 3 zones), every plan kept; "
          "bytes per object = held / 2N\n")
    table(
        ("N", "plans", "RSS growth KiB", "tracemalloc held KiB", "peak KiB", "held B/object", "peak B/object"),
        [(n, g["plans"], g["rss"] / 1024, g["current"] / 1024, g["peak"] / 1024, g["current"] / (2 * n),
          g["peak"] / (2 * n)) for n, g in got.items()],
    )
    rows, worst, pass_peak = status_size()
    print(f"\nobject sizes as JSON (etcd limit {ETCD_LIMIT:,} B)")
    table(("object", "status B", "object B", "% of etcd limit"), rows)
    print(f"\none steady-state reconcile pass of the 20-instance transit: tracemalloc peak {pass_peak / 1024:.0f} KiB"
          " (the in-process emulator included)\n")
    small, mid, big = sizes
    per = {n: got[n]["current"] / (2 * n) for n in sizes}
    ratio(f"bytes/object N={big}/N={mid}", div(per[big], per[mid]), "1.0 = linear")
    ratio(f"bytes/object N={big}/N={small}", div(per[big], per[small]))
    ratio(f"RSS growth N={big}/N={mid}", div(got[big]["rss"], got[mid]["rss"]), f"ideal {big / mid:g}")
    ratio("worst-case transit object / etcd limit", div(worst, ETCD_LIMIT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
