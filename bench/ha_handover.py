"""Hand-over time between two `transit-operator run` replicas with kopf peering, on a real kube-apiserver.

    python bench/ha_handover.py [--quick]

Per trial (a fresh namespace, KopfPeering and sandbox cloud): replica A (priority 200) brings the haproxy
example to Ready; replica B (priority 100) starts and stands by; after a random pause (so A is killed at a
random point of its keep-alive cycle) A is SIGKILLed — no goodbye, as when a node is lost. The hand-over
time is from the kill to the first cloud request the standby makes (its first reconcile: a paused replica
makes none, and A is gone). Trials use the operator's default `--peering-lifetime` (15 s); the full run
adds trials with kopf's default (60 s) for comparison; `--quick` (the test suite's smoke run) is one trial at
a 6 s lifetime, to check the bench works, not to measure. Ratios: the hand-over over the lifetime (kopf waits
for the dead replica's last keep-alive to be `lifetime` old, refreshed every lifetime minus 5-10 s, so it
lies between about 5 s and the lifetime), and the median hand-over at 15 s over the one at 60 s.

Needs kube-apiserver and etcd (`scripts/dev bootstrap` builds them); otherwise prints `skipped: <reason>`.
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from _bodies import div, ratio, table
from transit_operator.api.crd import render_crds_yaml
from transit_operator.runtime.options import DEFAULT_PEERING_LIFETIME
from transit_operator.runtime.sandbox import load_documents, prepare_customer_side
from transit_sandbox.executor import ConfigExecutor
from transit_sandbox.kube import KubeBinariesMissing, KubeClient, RealApiServer
from transit_sandbox.operators import OperatorProcess, prepare_peering, replica_args
from transit_sandbox.server import SandboxCloud

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "02-single-zone-haproxy" / "transit.yaml"
KOPF_DEFAULT_LIFETIME = 60
QUICK_LIFETIME = 6


def wait_for(probe: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def ready(cluster: KubeClient, documents: list[dict]) -> bool:
    for doc in documents:
        if doc["kind"] in ("ConfluentPrivateLink", "ServerlessTransit"):
            obj = cluster.get(doc["apiVersion"], doc["kind"], doc["metadata"]["name"], doc["metadata"]["namespace"])
            conditions = ((obj or {}).get("status") or {}).get("conditions") or []
            if not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return False
    return True


def trial(server: RealApiServer, cluster: KubeClient, logs: Path, index: int, lifetime: int,
          rng: random.Random) -> float:
    """One kill of the active replica: seconds from the kill to the standby's first cloud request."""
    namespace = f"handover-{lifetime}-{index}"
    prepare_peering(cluster, namespace)
    with SandboxCloud(executor=ConfigExecutor()) as cloud:
        cloud.admin.set_lro_seconds(None, 0.05)
        documents = copy.deepcopy(load_documents([EXAMPLE]))
        for doc in documents:
            doc.pop("status", None)
            doc["metadata"]["namespace"] = namespace
        documents = prepare_customer_side(cloud, cluster, documents)
        active = OperatorProcess(replica_args(server.kubeconfig, namespace, 200, lifetime=lifetime), cloud=cloud,
                                 log=logs / f"{namespace}-a.log", name=f"{namespace}-a").start()
        standby = OperatorProcess(replica_args(server.kubeconfig, namespace, 100, lifetime=lifetime), cloud=cloud,
                                  log=logs / f"{namespace}-b.log", name=f"{namespace}-b")
        try:
            active.wait_healthy(60)
            wait_for(active.leads, 30, "replica A leads")
            for doc in documents:
                cluster.apply(doc)
            wait_for(lambda: ready(cluster, documents), 90, "the example is Ready")
            standby.start().wait_healthy(60)
            time.sleep(1.0 + rng.uniform(0, lifetime))  # a random point of A's keep-alive cycle
            assert active.leads() and not standby.leads(), "replica B should be the standby"
            killed_at = time.time()
            active.kill()
            wait_for(lambda: any(r.time > killed_at for r in cloud.admin.requests()), lifetime + 60,
                     "the standby's first reconcile")
            first = min(r.time for r in cloud.admin.requests() if r.time > killed_at)
            wait_for(lambda: ready(cluster, documents), 90, "Ready under the standby")
            return first - killed_at
        finally:
            active.kill()
            standby.kill()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one trial at a 6 s lifetime (a smoke run)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    plan = [(QUICK_LIFETIME, 1)] if args.quick else [(DEFAULT_PEERING_LIFETIME, 5), (KOPF_DEFAULT_LIFETIME, 3)]
    try:
        server = RealApiServer()
    except KubeBinariesMissing as exc:
        print(f"skipped: {exc}")
        return 0
    rng = random.Random(args.seed)
    results: dict[int, list[float]] = {}
    with server, tempfile.TemporaryDirectory(prefix="ha-handover-") as logs:
        cluster = server.client()
        cluster.install_crds(list(yaml.safe_load_all(render_crds_yaml())))
        for lifetime, trials in plan:
            for index in range(trials):
                seconds = trial(server, cluster, Path(logs), index, lifetime, rng)
                results.setdefault(lifetime, []).append(seconds)
                print(f"lifetime {lifetime} s, trial {index + 1}: hand-over {seconds:.1f} s", flush=True)
    print()
    table(["peering lifetime (s)", "trials", "min (s)", "median (s)", "max (s)"],
          [[lifetime, len(values), min(values), statistics.median(values), max(values)]
           for lifetime, values in results.items()])
    lifetime = plan[0][0]
    ours = results[lifetime]
    ratio(f"handover_max/peering_lifetime at {lifetime}s", div(max(ours), lifetime),
          "<= 1 plus the standby's reaction")
    ratio(f"handover_median/peering_lifetime at {lifetime}s", div(statistics.median(ours), lifetime))
    if KOPF_DEFAULT_LIFETIME in results:
        ratio(f"handover_median {lifetime}s/{KOPF_DEFAULT_LIFETIME}s lifetime",
              div(statistics.median(ours), statistics.median(results[KOPF_DEFAULT_LIFETIME])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
