"""A field the API server pruned silently (a typo, applied without strict validation) is reported once per
generation from `kubectl apply`'s last-applied-configuration annotation."""

from __future__ import annotations

import json
from typing import Any

from transit_operator.reconcile.typos import LAST_APPLIED, pruned_fields_event


def body(applied: dict[str, Any] | None, *, generation: int = 2, seen_generation: int | None = 1) -> dict[str, Any]:
    annotations = {LAST_APPLIED: json.dumps(applied)} if applied is not None else {}
    status = {"conditions": [{"type": "Ready", "status": "True", "observedGeneration": seen_generation}]}
    return {"metadata": {"name": "c", "generation": generation, "annotations": annotations}, "status": status}


def test_a_pruned_typo_is_named_on_the_first_pass_of_a_generation() -> None:
    applied = {"apiVersion": "transit.privatelink.io/v1alpha1", "kind": "ConfluentPrivateLink",
               "metadata": {"name": "c"}, "spec": {"dns": {"manageZon": False}, "deletionPolicyy": "Orphan"}}
    event = pruned_fields_event(body(applied), "ConfluentPrivateLink")
    assert event is not None and event.type == "Warning" and event.reason == "UnknownFields"
    assert "spec.dns.manageZon" in event.message and "spec.deletionPolicyy" in event.message
    assert pruned_fields_event(body(applied, seen_generation=2), "ConfluentPrivateLink") is None


def test_nothing_to_say_without_the_annotation_or_a_typo() -> None:
    assert pruned_fields_event(body(None), "ServerlessTransit") is None
    assert pruned_fields_event(body({"spec": {"option": "haproxy"}}), "ServerlessTransit") is None
    broken = body(None)
    broken["metadata"]["annotations"] = {LAST_APPLIED: "[" * 10_000}
    assert pruned_fields_event(broken, "ServerlessTransit") is None
