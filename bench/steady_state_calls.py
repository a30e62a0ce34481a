"""The read/write budget of a steady-state reconcile, against a re-PUT-everything baseline.

    python bench/steady_state_calls.py [--quick] [--objects N] [--rounds R]

N ConfluentPrivateLinks (3 zones, managed private DNS) and N haproxy ServerlessTransits (3 instances) are
brought to Ready in the sandbox through the real reconcilers and SDK clients. Then R rounds, each:

- ours:     one `reconcile()` pass of every object (what the drift timer does every
            `driftCheckIntervalSeconds`): GET, compare, write only differences
- baseline: what generic operators do (Azure Service Operator PUTs every resource on each reconcile and
            polls the operation): build the plan (`transit_operator.plan.build_plan`) and PUT every ARM body
            through the same typed SDK operations (`cloud.arm.TYPES`), waiting for each operation the way
            azure-core's poller does; on the Databricks side re-send the rule's domain names and every
            workspace binding as updates

The two alternate within each round, so both see the same machine load. Counts come from the emulators'
request logs (every HTTP request the SDKs sent, LRO polls included). The derived budget assumes one pass per
object per `driftCheckIntervalSeconds` (default 300 s = ARM's 5-minute throttling window): Azure Resource
Manager ~10,000 GETs and ~1,000 writes, Private DNS ~500 GETs per 5 minutes per subscription
(docs/platform-rules.md#read-budget).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from databricks.sdk.service.provisioning import Workspace
from databricks.sdk.service.settings import UpdatePrivateEndpointRule

from _world import Counts, Pair, World, div, ratio, ready, table
from transit_operator.api.v1alpha1 import ConfluentPrivateLink, ServerlessTransit
from transit_operator.cloud.arm import arm_type, as_written
from transit_operator.cloud.context import CloudContext
from transit_operator.plan import build_plan
from transit_operator.plan.model import AzureResource

DRIFT_SECONDS = 300  # spec.driftCheckIntervalSeconds default = the 5-minute throttling window
ARM_GETS, ARM_WRITES, DNS_GETS = 10_000, 1_000, 500


def _model(body: dict[str, Any], cls: Any) -> Any:
    return cls.model_validate({k: body[k] for k in ("apiVersion", "kind", "metadata", "spec", "status") if k in body})


def _put(ctx: CloudContext, resource: AzureResource) -> None:
    entry = arm_type(resource.type)
    ops = getattr(ctx.client(entry.service, resource.id.split("/")[2]), entry.operations)
    args = entry.arguments(resource.id)
    if entry.long_running:
        ops.begin_create_or_update(*args, as_written(resource)).result()
    else:
        ops.create_or_update(*args, as_written(resource))


def baseline_cpl(pair: Pair, ctx: CloudContext) -> None:
    for resource in build_plan(_model(pair.cpl, ConfluentPrivateLink), related={}).azure:
        _put(ctx, resource)


def baseline_sxt(pair: Pair, ctx: CloudContext) -> None:
    cpl = _model(pair.cpl, ConfluentPrivateLink)
    sxt = _model(pair.sxt, ServerlessTransit)
    for resource in build_plan(sxt, related={"confluentPrivateLink": cpl}).azure:
        _put(ctx, resource)
    ncc = pair.sxt["status"]["ncc"]
    spec = pair.sxt["spec"]["databricks"]
    account = ctx.databricks(spec["accountHost"], spec["accountId"], None)
    account.network_connectivity.update_private_endpoint_rule(
        ncc["id"], ncc["ruleId"], UpdatePrivateEndpointRule(domain_names=ncc["domainNames"]),
        update_mask="domain_names",
    )
    for workspace_id in spec["workspaceIds"]:
        account.workspaces.update(
            workspace_id, Workspace(network_connectivity_config_id=ncc["id"]),
            update_mask="network_connectivity_config_id",
        )


def measure(world: World, step: Any) -> tuple[Counts, float]:
    """Run `step(pair, ctx)` over every pair; (requests seen, seconds)."""
    world.clear_logs()
    started = time.perf_counter()
    for pair in world.pairs:
        step(pair, world.ctx)
    return world.counts(), time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 pairs, 2 rounds (the smoke test)")
    parser.add_argument("--objects", type=int, help="N: ConfluentPrivateLinks and ServerlessTransits (10)")
    parser.add_argument("--rounds", type=int, help="alternating ours/baseline rounds (5)")
    args = parser.parse_args(argv)
    n = args.objects or (2 if args.quick else 10)
    rounds = args.rounds or (2 if args.quick else 5)

    with World() as world:
        started = time.perf_counter()
        world.add_pairs(n)
        world.until_ready()
        print(f"{n} ConfluentPrivateLinks (3 zones) + {n} haproxy ServerlessTransits (3 instances) Ready "
              f"in {time.perf_counter() - started:.1f} s; {rounds} rounds of ours vs baseline\n")
        world.cloud.admin.set_lro_seconds(None, 0.0)  # the baseline's operations finish at once: its floor
        steps = {
            ("ours", "ConfluentPrivateLink"): lambda p, c: p.reconcile_cpl(c),
            ("ours", "ServerlessTransit"): lambda p, c: p.reconcile_sxt(c),
            ("baseline", "ConfluentPrivateLink"): baseline_cpl,
            ("baseline", "ServerlessTransit"): baseline_sxt,
        }
        counts: dict[tuple[str, str], list[Counts]] = {key: [] for key in steps}
        seconds: dict[tuple[str, str], list[float]] = {key: [] for key in steps}
        for _ in range(rounds):
            for key, step in steps.items():
                seen, took = measure(world, step)
                counts[key].append(seen)
                seconds[key].append(took)
        not_ready = [p.sxt["metadata"]["name"] for p in world.pairs if not (ready(p.sxt) and ready(p.cpl))]
        if not_ready:
            print(f"error: not Ready after the rounds: {not_ready}", file=sys.stderr)
            return 1

    def per(key: tuple[str, str], attr: str) -> float:
        return sum(getattr(c, attr) for c in counts[key]) / (rounds * n)

    def ms(key: tuple[str, str]) -> float:
        return statistics.median(seconds[key]) / n * 1000

    cols = ("arm_gets", "dns_gets", "arm_writes", "dbx_gets", "dbx_writes", "total")
    print("requests per steady-state pass per object (mean over rounds), wall ms per object (median)")
    table(
        ("who", "kind", "ARM GET", "of which DNS", "ARM write", "DBX GET", "DBX write", "requests", "ms"),
        [(who, kind, *(per((who, kind), c) for c in cols), ms((who, kind))) for who, kind in steps],
    )

    def pair_sum(who: str, attr: str) -> float:
        return per((who, "ConfluentPrivateLink"), attr) + per((who, "ServerlessTransit"), attr)

    def pair_ms(who: str) -> float:
        return ms((who, "ConfluentPrivateLink")) + ms((who, "ServerlessTransit"))

    print("\nper pair (1 ConfluentPrivateLink + 1 ServerlessTransit) per pass")
    table(
        ("who", "ARM GET", "ARM write", "DNS GET", "Databricks", "requests", "ms"),
        [
            (who, pair_sum(who, "arm_gets"), pair_sum(who, "arm_writes"), pair_sum(who, "dns_gets"),
             pair_sum(who, "dbx_gets") + pair_sum(who, "dbx_writes"), pair_sum(who, "total"), pair_ms(who))
            for who in ("ours", "baseline")
        ],
    )

    def fits(limit: int, used: float) -> float:
        return float("inf") if used == 0 else limit / used

    print(f"\nbudget: pairs per subscription at driftCheckIntervalSeconds={DRIFT_SECONDS} "
          "(one pass per object per 5 minutes)")
    rows = []
    for who in ("ours", "baseline"):
        limits = {
            f"ARM {ARM_GETS:,} GET": fits(ARM_GETS, pair_sum(who, "arm_gets")),
            f"ARM {ARM_WRITES:,} write": fits(ARM_WRITES, pair_sum(who, "arm_writes")),
            f"Private DNS {DNS_GETS} GET": fits(DNS_GETS, pair_sum(who, "dns_gets")),
        }
        binding = min(limits, key=lambda k: limits[k])
        rows.append((who, *(int(v) if v != float("inf") else "unlimited" for v in limits.values()),
                     f"{int(limits[binding])} ({binding})"))
    table(("who", f"ARM {ARM_GETS:,} GET", f"ARM {ARM_WRITES:,} write", f"Private DNS {DNS_GETS} GET", "fits"),
          rows)
    print()
    ratio("writes/pass ours/baseline", div(pair_sum("ours", "arm_writes") + pair_sum("ours", "dbx_writes"),
                                            pair_sum("baseline", "arm_writes") + pair_sum("baseline", "dbx_writes")))
    ratio("requests/pass ours/baseline", div(pair_sum("ours", "total"), pair_sum("baseline", "total")))
    ratio("ARM GETs/pass ours/baseline", div(pair_sum("ours", "arm_gets"), pair_sum("baseline", "arm_gets")))
    ratio("wall time/pass ours/baseline", div(pair_ms("ours"), pair_ms("baseline")))
    ratio("pairs per subscription ours/baseline",
          div(min(fits(ARM_GETS, pair_sum("ours", "arm_gets")), fits(ARM_WRITES, pair_sum("ours", "arm_writes")),
                  fits(DNS_GETS, pair_sum("ours", "dns_gets"))),
              min(fits(ARM_GETS, pair_sum("baseline", "arm_gets")),
                  fits(ARM_WRITES, pair_sum("baseline", "arm_writes")),
                  fits(DNS_GETS, pair_sum("baseline", "dns_gets")))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
