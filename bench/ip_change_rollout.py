"""An endpoint IP change pushed to a scale set of K HAProxy instances, by `runCommandConcurrency`.

    python bench/ip_change_rollout.py [--quick] [--latency S] [--repeat R]

For each K (3, 10, 20; --quick: 3, 6) one haproxy ServerlessTransit with K instances is brought to Ready in
the sandbox. Then, for concurrency 1, the default (5) and K, the ConfluentPrivateLink's zone az2 gets a new
endpoint IP and the transit is reconciled until Ready again, through the real reconciler, SDK clients and
the emulated VMSS run-command API. Counted: run-commands sent (from the ARM request log; must be K), passes
to converge, wall time.

Each run-command takes a fixed `--latency` on the instance (default 0.2 s; --quick 0.1 s). Azure's action
run-command takes about 20 s at least per instance (agent hand-off, script, result upload), so the real
figure is ~100x this one; the scale-down keeps runs short while the time stays dominated by the commands,
as in Azure, so the ratios carry over: ideally ceil(K / concurrency) waves of one latency each.

Wall time here is the passes' own time. Between passes the runtime waits `requeue_after` (at least 1 s:
the first pass rewrites the scale set model's customData and the instances are configured once that
operation has finished); the bench sleeps 50 ms instead and reports the waits separately.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from _world import Pair, ScriptedExecutor, World, div, ratio, ready, table

DEFAULT_CONCURRENCY = 5


def rollout(world: World, pair: Pair, concurrency: int, new_ip: str) -> tuple[int, int, float, float]:
    """(run-commands, passes, wall seconds, runtime requeue waits) for one IP change."""
    pair.sxt["spec"]["haproxy"]["runCommandConcurrency"] = concurrency
    pair.set_endpoint_ip("az2", new_ip)
    world.clear_logs()
    passes, waits = 0, 0.0
    started = time.perf_counter()
    while True:
        outcome = pair.reconcile_sxt(world.ctx)
        passes += 1
        if ready(pair.sxt):
            break
        if passes >= 40:
            raise SystemExit(f"not Ready after {passes} passes: {pair.sxt['status']['conditions']}")
        waits += outcome.requeue_after or 0.0
        time.sleep(0.05)
    took = time.perf_counter() - started
    return world.counts().run_commands, passes, took, waits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="K = 3, 6; latency 0.1 s (the smoke test)")
    parser.add_argument("--latency", type=float, help="seconds one run-command takes (0.2)")
    parser.add_argument("--repeat", type=int, help="IP changes per (K, concurrency); the median is shown (2)")
    args = parser.parse_args(argv)
    sizes = (3, 6) if args.quick else (3, 10, 20)
    latency = args.latency if args.latency is not None else (0.1 if args.quick else 0.2)
    repeat = args.repeat or (1 if args.quick else 2)

    rows: list[tuple[object, ...]] = []
    speedups: dict[int, tuple[float, float]] = {}
    executor = ScriptedExecutor(latency=latency)
    with World(executor) as world:
        # The emulator's run-command pool defaults to 16 workers; 20 instances at once need more.
        world.cloud.arm.run_command_pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="run-command")
        print(f"run-command latency {latency} s per instance; median of {repeat} IP change(s) per row\n")
        for k in sizes:
            (pair,) = world.add_pairs(1, instances=k, concurrency=DEFAULT_CONCURRENCY)
            world.until_ready([pair])
            times: dict[int, float] = {}
            for concurrency in sorted({1, DEFAULT_CONCURRENCY, k}):
                runs = [rollout(world, pair, concurrency, f"10.20.3.{100 + len(rows) * 5 + r}")
                        for r in range(repeat)]
                commands = {r[0] for r in runs}
                if commands != {k}:
                    print(f"error: K={k} concurrency={concurrency}: run-commands sent {commands}, want {k}",
                          file=sys.stderr)
                    return 1
                took = statistics.median(r[2] for r in runs)
                times[concurrency] = took
                ideal = math.ceil(k / concurrency) * latency
                rows.append((k, concurrency, k, max(r[1] for r in runs), took, ideal,
                             took - ideal, statistics.median(r[3] for r in runs)))
            speedups[k] = (div(times[1], times[DEFAULT_CONCURRENCY]), div(times[1], times[k]))
    table(("K", "concurrency", "run-commands", "passes", "wall s", "ideal s", "overhead s", "requeue waits s"),
          rows)
    print()
    for k, (default, full) in speedups.items():
        ratio(f"K={k} wall time concurrency 1/default({DEFAULT_CONCURRENCY})", default,
              f"ideal {div(k, math.ceil(k / DEFAULT_CONCURRENCY)):.3g}")
        ratio(f"K={k} wall time concurrency 1/K", full, f"ideal {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
