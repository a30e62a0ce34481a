"""An endpoint IP change pushed to a scale set of K HAProxy instances, by `runCommandConcurrency`.

    python bench/ip_change_rollout.py [--quick] [--latency S] [--repeat R]

For each K (3, 10, 20; --quick: 3, 6) one haproxy ServerlessTransit with K instances is brought to Ready in
the sandbox. Then, for concurrency 1, the default (5) and K, the ConfluentPrivateLink's zone az2 gets a new
endpoint IP and the transit is reconciled until Ready again, through the real reconciler, SDK clients and
the emulated managed run commands (`.../virtualMachines/{id}/runCommands/{name}`). Counted from the ARM
request log: run commands started (PUT; must be K), cleaned up (DELETE; must be K), reads of the
instances' run commands, passes, wall time, and the longest single pass.

Each run command takes a fixed `--latency` on the instance (default 0.2 s; --quick 0.1 s). Azure's run
commands take about 20 s at least per instance (agent hand-off, script, result), so the real figure is
~100x this one; the scale-down keeps runs short while the time stays dominated by the commands, as in
Azure, so the ratios carry over: ideally ceil(K / concurrency) waves of one latency each.

No pass waits for a command: a pass starts what may start, a later one reads the results. So the wall time
of a rollout is passes plus the time between them: the bench passes again every 50 ms (the runtime would
wait `requeue_after`, reported apart). The longest pass is how long a kopf worker is held; at these
latencies it is the pass's own ARM round trips. To show it does not grow with the commands, one more
rollout (K = 3, concurrency 3) runs with slow commands (2 s; --quick 1 s): the ratio of its longest pass to
one command's latency stays well below 1 (the action run-command fan-out it replaces held a worker for the
whole wave, up to 120 s).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from _world import Pair, ScriptedExecutor, World, div, ratio, ready, table

DEFAULT_CONCURRENCY = 5
BETWEEN_PASSES = 0.05
SLOW_LATENCY = 2.0


@dataclass(frozen=True)
class Rollout:
    started: int  # run commands PUT
    deleted: int  # run commands cleaned up
    reads: int  # GETs of instances' run commands
    passes: int
    wall: float  # seconds from the IP change to Ready, passes and the time between them
    longest_pass: float  # seconds
    waits: float  # what the runtime would have waited between passes (requeue_after), summed


def rollout(world: World, pair: Pair, concurrency: int, new_ip: str) -> Rollout:
    pair.sxt["spec"]["haproxy"]["runCommandConcurrency"] = concurrency
    pair.set_endpoint_ip("az2", new_ip)
    world.clear_logs()
    passes, waits, longest = 0, 0.0, 0.0
    started = time.perf_counter()
    while True:
        one = time.perf_counter()
        outcome = pair.reconcile_sxt(world.ctx)
        longest = max(longest, time.perf_counter() - one)
        passes += 1
        if ready(pair.sxt):
            break
        if passes >= 400:
            raise SystemExit(f"not Ready after {passes} passes: {pair.sxt['status']['conditions']}")
        waits += outcome.requeue_after or 0.0
        time.sleep(BETWEEN_PASSES)
    took = time.perf_counter() - started
    time.sleep(0.2)  # the last clean-up DELETEs are long-running operations: let them reach the log
    counts = world.counts()
    return Rollout(counts.run_commands, counts.run_command_deletes, counts.run_command_reads, passes, took,
                   longest, waits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="K = 3, 6; latency 0.1 s (the smoke test)")
    parser.add_argument("--latency", type=float, help="seconds one run command takes (0.2)")
    parser.add_argument("--repeat", type=int, help="IP changes per (K, concurrency); the median is shown (2)")
    args = parser.parse_args(argv)
    sizes = (3, 6) if args.quick else (3, 10, 20)
    latency = args.latency if args.latency is not None else (0.1 if args.quick else 0.2)
    repeat = args.repeat or (1 if args.quick else 2)

    rows: list[tuple[object, ...]] = []
    speedups: dict[int, tuple[float, float]] = {}
    executor = ScriptedExecutor(latency=latency)
    with World(executor) as world:
        # The emulator's executor pool defaults to 32 workers; 20 instances at once need no more, but the
        # boots of the bigger scale sets are faster with more.
        world.cloud.arm.run_command_pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="run-command")
        print(f"run command latency {latency} s per instance; median of {repeat} IP change(s) per row\n")
        for k in sizes:
            (pair,) = world.add_pairs(1, instances=k, concurrency=DEFAULT_CONCURRENCY)
            world.until_ready([pair])
            times: dict[int, float] = {}
            for concurrency in sorted({1, DEFAULT_CONCURRENCY, k}):
                runs = [rollout(world, pair, concurrency, f"10.20.3.{100 + len(rows) * 5 + r}")
                        for r in range(repeat)]
                for run in runs:
                    if (run.started, run.deleted) != (k, k):
                        print(f"error: K={k} concurrency={concurrency}: run commands started {run.started}, "
                              f"deleted {run.deleted}; want {k} each", file=sys.stderr)
                        return 1
                took = statistics.median(r.wall for r in runs)
                times[concurrency] = took
                ideal = math.ceil(k / concurrency) * latency
                longest = max(r.longest_pass for r in runs)
                rows.append((k, concurrency, k, k, max(r.reads for r in runs), max(r.passes for r in runs), took,
                             ideal, took - ideal, longest, statistics.median(r.waits for r in runs)))
            speedups[k] = (div(times[1], times[DEFAULT_CONCURRENCY]), div(times[1], times[k]))
        slow = SLOW_LATENCY / 2 if args.quick else SLOW_LATENCY
        (pair,) = world.add_pairs(1, instances=3, concurrency=3)
        world.until_ready([pair])
        executor.latency = slow
        held = rollout(world, pair, 3, "10.20.3.250")
        executor.latency = latency
    table(("K", "concurrency", "started", "deleted", "reads", "passes", "wall s", "ideal s", "overhead s",
           "longest pass s", "requeue waits s"), rows)
    print()
    for k, (default, full) in speedups.items():
        ratio(f"K={k} wall time concurrency 1/default({DEFAULT_CONCURRENCY})", default,
              f"ideal {div(k, math.ceil(k / DEFAULT_CONCURRENCY)):.3g}")
        ratio(f"K={k} wall time concurrency 1/K", full, f"ideal {k}")
    print(f"\nslow commands ({slow:g} s each, K=3, concurrency 3): {held.passes} passes, wall {held.wall:.3g} s, "
          f"longest pass {held.longest_pass:.3g} s")
    ratio(f"longest pass / one command's latency ({slow:g} s)", div(held.longest_pass, slow),
          "well below 1: no pass waits for a command")
    return 0


if __name__ == "__main__":
    sys.exit(main())
