"""`Runtime.tick` claims objects no pass has reached in this replica (the finalizer race with a second
replica, see `runtime.driver`), and leaves alone the ones kopf's own handling owns."""

from __future__ import annotations

import logging
from typing import Any

import kopf
import pytest

from transit_operator.api.v1alpha1 import ConfluentPrivateLinkStatus
from transit_operator.reconcile.outcome import Outcome
from transit_operator.runtime.driver import Reconcilers, Runtime

LOGGER = logging.getLogger("test")


def cpl(generation: int, observed: int | None, **metadata: Any) -> dict[str, Any]:
    status = {"observedGeneration": observed} if observed is not None else {}
    return {"apiVersion": "transit.privatelink.io/v1alpha1", "kind": "ConfluentPrivateLink",
            "metadata": {"name": "c1", "namespace": "default", "generation": generation, **metadata},
            "spec": {"zones": ["1"]}, "status": status}


class Counting:
    """Reconcilers that count passes and write only observedGeneration (no Events: no kopf context here)."""

    def __init__(self, requeue_after: float | None = None) -> None:
        self.passes = 0
        self.requeue_after = requeue_after

    def reconcile(self, body: dict[str, Any], ctx: Any) -> Outcome:
        self.passes += 1
        return Outcome(status=ConfluentPrivateLinkStatus(observed_generation=body["metadata"]["generation"]),
                       requeue_after=self.requeue_after)

    def reconcilers(self) -> Reconcilers:
        return Reconcilers(self.reconcile, self.reconcile, lambda body, cpl, ctx: self.reconcile(body, ctx),
                           self.reconcile)


@pytest.mark.parametrize(("body", "claimed"), [
    pytest.param(cpl(1, None), True, id="never-reconciled"),
    pytest.param(cpl(2, 1), True, id="generation-not-observed"),
    pytest.param(cpl(1, 1), False, id="observed"),
    pytest.param(cpl(1, None, deletionTimestamp="2026-01-01T00:00:00Z"), False, id="being-deleted"),
])
def test_a_tick_claims_an_object_no_pass_has_reached(body: dict[str, Any], claimed: bool) -> None:
    counting = Counting()
    runtime = Runtime(None, counting.reconcilers())
    runtime.tick("ConfluentPrivateLink", body, {}, LOGGER)  # type: ignore[arg-type]
    assert counting.passes == (1 if claimed else 0)
    runtime.tick("ConfluentPrivateLink", body, {}, LOGGER)  # type: ignore[arg-type]
    assert counting.passes == (1 if claimed else 0)  # claimed once; then the drift interval rules


def test_an_object_kopf_has_passed_over_is_not_claimed_again() -> None:
    counting = Counting(requeue_after=5.0)
    runtime = Runtime(None, counting.reconcilers())
    with pytest.raises(kopf.TemporaryError):  # kopf's change handling, asked to come back in 5 s
        runtime.reconcile("ConfluentPrivateLink", cpl(1, None), {}, LOGGER, retry=0)  # type: ignore[arg-type]
    runtime.tick("ConfluentPrivateLink", cpl(1, None), {}, LOGGER)  # type: ignore[arg-type]
    assert counting.passes == 1  # kopf owns the retry it was asked for
