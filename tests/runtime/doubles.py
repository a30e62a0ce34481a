"""A TEST DOUBLE of `transit_operator.reconcile`: small reconcilers with real, observable behaviour.

Not the product's reconcilers (those talk to the cloud). These derive a status from the spec so the kopf
wiring can be checked end to end against the emulated Kubernetes API:

- ConfluentPrivateLink: the first pass reports `Reconciling` and asks to be called again shortly
  (`requeue_after`); the next reports `Ready` with one endpoint IP per `spec.zones` entry.
  The statuses fit the real CRDs' status schema (the emulated API server validates status writes too).
- ServerlessTransit: waits (a long requeue) until its ConfluentPrivateLink is Ready, then reports `Ready`
  with the CPL's endpoint IPs as `backendIps` — so only the cross-object kick can make it Ready quickly.
- finalize: not done on the first call (short requeue), done on the second.
- a name in `fail_once` raises on its first reconcile.
- a name in `always_failing` ends every reconcile on the same failure (`Outcome.failure`), asking to be
  called again almost at once (`requeue_after` 0.05 s): only the runtime's backoff spaces the passes out.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from transit_operator.api.v1alpha1 import Condition
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import Event, Failure, Outcome
from transit_operator.runtime.driver import Reconcilers


class DoubleStatus(BaseModel):
    """The status the doubles write: what the runtime reads of every status typed (it may mark the object
    Stalled), the rest exactly as given (the wiring CRD is not the product's)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")
    observed_generation: int | None = None
    conditions: list[Condition] = []


def _status(document: dict[str, Any]) -> Any:
    return DoubleStatus.model_validate(document)


def _ready(generation: int, message: str) -> list[dict[str, Any]]:
    return [{"type": "Ready", "status": "True", "reason": "Reconciled", "message": message,
             "observedGeneration": generation}]


def _waiting(generation: int, reason: str, message: str) -> list[dict[str, Any]]:
    return [{"type": "Ready", "status": "False", "reason": reason, "message": message,
             "observedGeneration": generation},
            {"type": "Reconciling", "status": "True", "reason": reason, "message": message,
             "observedGeneration": generation}]


class StatusFromSpecDouble:
    """Test double: see the module docstring."""

    def __init__(self, fail_once: tuple[str, ...] = (), always_failing: tuple[str, ...] = ()) -> None:
        self.calls: Counter[tuple[str, str, str]] = Counter()  # (kind, operation, name) -> count
        self.call_times: dict[tuple[str, str, str], list[float]] = {}  # monotonic time of each call
        self.cpl_seen_by_transit: list[dict[str, Any] | None] = []
        self._fail_once = set(fail_once)
        self._always_failing = set(always_failing)
        self._lock = threading.Lock()

    def _count(self, kind: str, operation: str, body: dict[str, Any]) -> int:
        with self._lock:
            key = (kind, operation, body["metadata"]["name"])
            self.calls[key] += 1
            self.call_times.setdefault(key, []).append(time.monotonic())
            return self.calls[key]

    def reconcile_confluent(self, body: dict[str, Any], ctx: Any) -> Outcome:
        n = self._count("ConfluentPrivateLink", "reconcile", body)
        name, generation = body["metadata"]["name"], body["metadata"]["generation"]
        if name in self._fail_once and n == 1:
            raise RuntimeError("injected failure")
        if name in self._always_failing:
            message = "endpoint: provisioningState Failed; written again"
            return Outcome(status=_status({"observedGeneration": generation,
                                   "conditions": _waiting(generation, "ProvisioningFailed", message)}),
                           requeue_after=0.05,
                           failure=Failure(Reason.PROVISIONING_FAILED, message, key="endpoint failed"))
        if n == 1:
            return Outcome(status=_status({"observedGeneration": generation,
                                   "conditions": _waiting(generation, "Creating", "creating endpoints"),
                                   "zones": []}),
                           requeue_after=0.3, events=[Event("Normal", "Creating", "creating endpoints")])
        spec_zones = body["spec"].get("zones") or ["az1"]  # the wiring CRD's `zones`; anything else: one
        zones = [{"name": str(zone), "privateIp": f"10.0.0.{i + 1}"} for i, zone in enumerate(spec_zones)]
        return Outcome(status=_status({"observedGeneration": generation, "conditions": _ready(generation, "endpoints up"),
                               "zones": zones}),
                       events=[Event("Normal", "Ready", f"{len(zones)} endpoints")])

    def finalize_confluent(self, body: dict[str, Any], ctx: Any) -> Outcome:
        n = self._count("ConfluentPrivateLink", "finalize", body)
        status = _status(dict(body.get("status") or {}))
        return Outcome(status=status, done=n >= 2, requeue_after=None if n >= 2 else 0.2,
                       events=[Event("Normal", "Deleting", "removing endpoints")])

    def reconcile_transit(self, body: dict[str, Any], cpl: dict[str, Any] | None, ctx: Any) -> Outcome:
        self._count("ServerlessTransit", "reconcile", body)
        self.cpl_seen_by_transit.append(cpl)
        generation = body["metadata"]["generation"]
        conditions = (cpl or {}).get("status", {}).get("conditions", [])
        if not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            return Outcome(status=_status({"observedGeneration": generation,
                                   "conditions": _waiting(generation, "WaitingForEndpoints",
                                                          "the ConfluentPrivateLink is not Ready")}),
                           requeue_after=600)
        backends = [zone["privateIp"] for zone in cpl["status"]["zones"]]  # type: ignore[index]
        return Outcome(status=_status({"observedGeneration": generation, "conditions": _ready(generation, "proxying"),
                                       "backendIps": backends}))

    def finalize_transit(self, body: dict[str, Any], ctx: Any) -> Outcome:
        n = self._count("ServerlessTransit", "finalize", body)
        return Outcome(status=_status(dict(body.get("status") or {})), done=n >= 2, requeue_after=0.2)

    def reconcilers(self) -> Reconcilers:
        return Reconcilers(self.reconcile_confluent, self.finalize_confluent, self.reconcile_transit,
                           self.finalize_transit)
