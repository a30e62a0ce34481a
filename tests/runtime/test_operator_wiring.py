"""The kopf wiring, whole operator against the emulated Kubernetes API, with a test-double reconciler."""

from __future__ import annotations

import asyncio
from itertools import pairwise
from typing import Any

from transit_operator.runtime.driver import Runtime
from transit_sandbox.kube import KubeClient

from .conftest import GROUP, VERSION, eventually
from .doubles import StatusFromSpecDouble

API_VERSION = f"{GROUP}/{VERSION}"
FINALIZER = "transit.privatelink.io/finalizer"


def cpl(name: str, zones: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "ConfluentPrivateLink",
            "metadata": {"name": name, "namespace": "default"}, "spec": {"zones": zones or ["1", "2", "3"], **spec}}


def transit(name: str, cpl_name: str) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "ServerlessTransit",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"option": "haproxy", "confluentPrivateLinkRef": {"name": cpl_name}}}


def ready(obj: dict[str, Any] | None) -> bool:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def get(cluster: KubeClient, kind: str, name: str) -> dict[str, Any] | None:
    return cluster.get(API_VERSION, kind, name, "default")


def events_of(cluster: KubeClient, name: str) -> list[str]:
    events = [e for e in cluster.list_objects("v1", "Event", "default") if e["involvedObject"]["name"] == name]
    return [e["reason"] for e in sorted(events, key=lambda e: int(e["metadata"]["resourceVersion"]))]


def sample(runtime: Runtime, name: str, labels: dict[str, str]) -> float:
    return runtime.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_status_is_written_after_a_requeue_with_observed_generation_and_events(
        cluster: KubeClient, runtime: Runtime, double: StatusFromSpecDouble) -> None:
    cluster.create(cpl("c1"))
    obj = await eventually(lambda: (o := get(cluster, "ConfluentPrivateLink", "c1")) and ready(o) and o)
    assert obj["status"]["observedGeneration"] == 1
    assert obj["status"]["zones"][2] == {"name": "3", "privateIp": "10.0.0.3"}
    assert [c["type"] for c in obj["status"]["conditions"]] == ["Ready"]  # the Reconciling one was removed
    assert FINALIZER in obj["metadata"]["finalizers"]
    assert double.calls[("ConfluentPrivateLink", "reconcile", "c1")] == 2  # first pass asked to requeue
    await eventually(lambda: events_of(cluster, "c1") == ["Creating", "Ready"])
    assert "status" not in obj["metadata"].get("annotations", {}).get("kopf.zalando.org/last-handled-configuration", "")
    assert sample(runtime, "transit_operator_reconcile_total",
                  {"kind": "ConfluentPrivateLink", "operation": "reconcile", "result": "requeue"}) == 1


async def test_spec_changes_reconcile_and_status_only_changes_do_not(
        cluster: KubeClient, runtime: Runtime, double: StatusFromSpecDouble) -> None:
    cluster.create(cpl("c1"))
    await eventually(lambda: ready(get(cluster, "ConfluentPrivateLink", "c1")))
    calls = double.calls[("ConfluentPrivateLink", "reconcile", "c1")]

    cluster.patch(API_VERSION, "ConfluentPrivateLink", "c1", "default", {"status": {"note": "written by someone else"}},
              subresource="status")
    await asyncio.sleep(1.0)
    assert double.calls[("ConfluentPrivateLink", "reconcile", "c1")] == calls

    cluster.apply({**cpl("c1", zones=["1"])})
    obj = await eventually(lambda: (o := get(cluster, "ConfluentPrivateLink", "c1"))
                           and o["status"].get("observedGeneration") == 2 and o)
    assert [z["name"] for z in obj["status"]["zones"]] == ["1"]
    assert "note" not in obj["status"]  # the whole status is the reconciler's


async def test_delete_finalizes_until_done_then_releases_the_finalizer(
        cluster: KubeClient, runtime: Runtime, double: StatusFromSpecDouble) -> None:
    cluster.create(cpl("c1"))
    await eventually(lambda: ready(get(cluster, "ConfluentPrivateLink", "c1")))
    cluster.delete(API_VERSION, "ConfluentPrivateLink", "c1", "default")
    held = get(cluster, "ConfluentPrivateLink", "c1")
    assert held is not None and held["metadata"]["deletionTimestamp"]
    await eventually(lambda: get(cluster, "ConfluentPrivateLink", "c1") is None)
    assert double.calls[("ConfluentPrivateLink", "finalize", "c1")] == 2
    assert "Deleting" in events_of(cluster, "c1")


async def test_confluent_status_change_reconciles_the_referencing_transit_promptly(
        cluster: KubeClient, runtime: Runtime, double: StatusFromSpecDouble) -> None:
    cluster.create(transit("t1", "c1"))
    waiting = await eventually(lambda: (o := get(cluster, "ServerlessTransit", "t1")) and o.get("status") and o)
    assert waiting["status"]["conditions"][0]["reason"] == "WaitingForEndpoints"  # it requeued for 600 s

    cluster.create(cpl("c1", zones=["1", "2"]))
    obj = await eventually(lambda: (o := get(cluster, "ServerlessTransit", "t1")) and ready(o) and o, timeout=8)
    assert obj["status"]["backendIps"] == ["10.0.0.1", "10.0.0.2"]
    seen = [c for c in double.cpl_seen_by_transit if c is not None]
    assert seen and seen[-1]["metadata"]["name"] == "c1"


async def test_drift_timer_reconciles_when_the_objects_interval_has_passed(
        cluster: KubeClient, runtime: Runtime, double: StatusFromSpecDouble) -> None:
    cluster.create(cpl("c1", driftCheckIntervalSeconds=1))
    await eventually(lambda: ready(get(cluster, "ConfluentPrivateLink", "c1")))
    before = double.calls[("ConfluentPrivateLink", "reconcile", "c1")]
    await eventually(lambda: double.calls[("ConfluentPrivateLink", "reconcile", "c1")] >= before + 2, timeout=6)


async def test_an_exception_in_a_reconciler_is_retried_with_backoff(
        cluster: KubeClient, runtime: Runtime, double: StatusFromSpecDouble) -> None:
    cluster.create(cpl("flaky"))
    await eventually(lambda: ready(get(cluster, "ConfluentPrivateLink", "flaky")))
    assert sample(runtime, "transit_operator_reconcile_errors_total",
                  {"kind": "ConfluentPrivateLink", "operation": "reconcile"}) == 1


async def test_a_repeated_failure_backs_off_exponentially_and_turns_stalled(
        cluster: KubeClient, runtime: Runtime, double: StatusFromSpecDouble) -> None:
    # The reconciler asks to be called again after 0.05 s every time; unbounded, that is ~20 passes a second.
    cluster.create(cpl("doomed"))
    obj = await eventually(lambda: (o := get(cluster, "ConfluentPrivateLink", "doomed")) and any(
        c["type"] == "Stalled" and c["status"] == "True" for c in o.get("status", {}).get("conditions", [])) and o,
        timeout=10)
    stalled = next(c for c in obj["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["reason"] == "ProvisioningFailed" and "5 identical failures in a row" in stalled["message"]
    times = double.call_times[("ConfluentPrivateLink", "reconcile", "doomed")]
    gaps = [b - a for a, b in pairwise(times[:5])]
    # backoff_seconds 0.2: 0.2, 0.4, 0.8, 1.6 (+-20 % jitter), not 0.05
    assert len(times) in (5, 6) and all(gap >= 0.15 for gap in gaps)
    assert all(later > earlier * 1.3 for earlier, later in pairwise(gaps))
    await eventually(lambda: "Stalled" in events_of(cluster, "doomed"))
