"""deploy/argocd/health.lua, run in Lua 5.1 (Argo CD's gopher-lua is 5.1) on sample objects of both kinds."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from .conftest import REPO

lupa = pytest.importorskip("lupa.lua51", reason="PyPI lupa (with its Lua 5.1 runtime) is not installed")

HEALTH_LUA = REPO / "deploy" / "argocd" / "health.lua"
CM_PATCH = REPO / "deploy" / "argocd" / "argocd-cm-patch.yaml"
KINDS = ["ConfluentPrivateLink", "ServerlessTransit"]


def condition(
    type_: str, status: str, reason: str = "", message: str = "", generation: int | None = 3
) -> dict[str, Any]:
    c = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    if generation is not None:
        c["observedGeneration"] = generation
    return c


def sample(
    kind: str, status: dict[str, Any] | None, generation: int = 3, deleting: bool = False
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "prod", "namespace": "data-platform", "generation": generation}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    obj: dict[str, Any] = {
        "apiVersion": "transit.privatelink.io/v1alpha1",
        "kind": kind,
        "metadata": metadata,
        "spec": {},
    }
    if status is not None:
        obj["status"] = status
    return obj


READY = [
    condition("Ready", "True", "Reconciled", "the cloud matches the spec"),
    condition("Reconciling", "False", "Reconciled"),
    condition("Stalled", "False", "Reconciled"),
]
WAITING = [
    condition("Ready", "False", "AwaitingApproval", "private endpoint connection is Pending"),
    condition("Reconciling", "True", "AwaitingApproval", "waiting for the PLS owner to approve"),
    condition("Stalled", "False", "AwaitingApproval"),
]
STALLED = [
    condition("Ready", "False", "InvalidSpec"),
    condition("Reconciling", "False", "InvalidSpec"),
    condition("Stalled", "True", "InvalidSpec", "SubnetNotFound: subnet pls does not exist"),
]

CASES = [
    pytest.param(None, {}, "Progressing", "Waiting for the operator to report status", id="no-status-yet"),
    pytest.param({}, {}, "Progressing", "Waiting for the operator to report status", id="empty-status"),
    pytest.param(
        {"observedGeneration": 3, "conditions": READY},
        {},
        "Healthy",
        "the cloud matches the spec",
        id="ready-for-current-generation",
    ),
    pytest.param(
        {"observedGeneration": 2, "conditions": READY},
        {},
        "Progressing",
        "Waiting for the operator to observe generation 3",
        id="ready-but-generation-behind",
    ),
    pytest.param(
        {"conditions": READY},
        {},
        "Progressing",
        "Waiting for the operator to observe generation 3",
        id="ready-without-observed-generation",
    ),
    pytest.param(
        {"observedGeneration": 3, "conditions": STALLED},
        {},
        "Degraded",
        "SubnetNotFound: subnet pls does not exist",
        id="stalled-shows-the-condition-message",
    ),
    pytest.param(
        {"observedGeneration": 3, "conditions": [condition("Stalled", "True", "QuotaExceeded")]},
        {},
        "Degraded",
        "QuotaExceeded",
        id="stalled-without-message-shows-reason",
    ),
    pytest.param(
        {"observedGeneration": 2, "conditions": STALLED},
        {},
        "Progressing",
        "Waiting for the operator to observe generation 3",
        id="stalled-for-old-generation-after-spec-fix",
    ),
    pytest.param(
        {"observedGeneration": 3, "conditions": WAITING},
        {},
        "Progressing",
        "waiting for the PLS owner to approve",
        id="reconciling-shows-what-it-waits-for",
    ),
    pytest.param(
        {"observedGeneration": 3, "conditions": [condition("Ready", "False", "Pending", "no IPs yet")]},
        {},
        "Progressing",
        "no IPs yet",
        id="not-ready-shows-ready-message",
    ),
    pytest.param(
        {"observedGeneration": 3, "conditions": [condition("Ready", "True", "Ok", "", generation=2)]},
        {},
        "Progressing",
        "Not ready yet",
        id="ready-condition-from-older-generation",
    ),
    pytest.param(
        {"observedGeneration": 3, "conditions": [condition("Ready", "True", "Ok", "", generation=None)]},
        {},
        "Healthy",
        "Ok",
        id="condition-without-own-generation-trusts-status",
    ),
    pytest.param(
        {"observedGeneration": 3, "conditions": READY},
        {"deleting": True},
        "Progressing",
        "Deleting: the operator is removing the cloud resources",
        id="being-deleted",
    ),
    pytest.param(
        {"observedGeneration": 3, "conditions": [
            *READY, condition("DataPathHealthy", "False", "HopBroken", "backends: 10.0.1.5: Down")]},
        {},
        "Healthy",
        "the cloud matches the spec",
        id="data-path-broken-on-confluents-side-does-not-flap-gitops-health",
    ),
    pytest.param(
        {"observedGeneration": 3, "conditions": []},
        {},
        "Progressing",
        "Not ready yet",
        id="no-conditions-yet",
    ),
]


def argo_health(obj: dict[str, Any]) -> tuple[str, str]:
    """Run health.lua as Argo CD does: a chunk with the live object in the global `obj`."""
    runtime = lupa.LuaRuntime(unpack_returned_tuples=True)
    runtime.globals().obj = runtime.table_from(obj, recursive=True)
    result = runtime.execute(HEALTH_LUA.read_text())
    return result["status"], result["message"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("status", "options", "health", "message"), CASES)
def test_argo_health_of_sample_object(
    kind: str, status: dict[str, Any] | None, options: dict[str, Any], health: str, message: str
) -> None:
    assert argo_health(sample(kind, status, **options)) == (health, message)


def test_argocd_cm_patch_carries_health_lua_for_both_kinds() -> None:
    patch = yaml.safe_load(CM_PATCH.read_text())
    assert (patch["kind"], patch["metadata"]["name"]) == ("ConfigMap", "argocd-cm")
    lua = HEALTH_LUA.read_text()
    assert patch["data"] == {
        f"resource.customizations.health.transit.privatelink.io_{kind}": lua for kind in KINDS
    }, "deploy/argocd/argocd-cm-patch.yaml must embed deploy/argocd/health.lua verbatim for both kinds"
