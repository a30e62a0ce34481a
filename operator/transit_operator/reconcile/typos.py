"""Surface a typo the API server dropped without a word.

The API server prunes fields the CRD schema does not declare; unless the client asked for strict field
validation (`kubectl apply --validate=strict`, kubectl's default), nothing tells the user that
`spec.dns.manageZon: false` was thrown away and the default is in force. The object the operator receives
no longer carries the typo, but a client-side `kubectl apply` leaves the document it sent in the
`kubectl.kubernetes.io/last-applied-configuration` annotation. `pruned_fields_event` runs that document
through the same admission as `plan` (`api.admission`) and, once per generation, says which fields the
API server dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from transit_operator.api.admission import admit
from transit_operator.reconcile.conditions import READY
from transit_operator.reconcile.outcome import Event

__all__ = ["LAST_APPLIED", "pruned_fields_event"]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_MAX_SHOWN = 5


def pruned_fields_event(body: Mapping[str, Any], kind: str) -> Event | None:
    """A Warning naming the fields the API server pruned from the last `kubectl apply`, on the first pass of
    a generation; None otherwise (no annotation, nothing pruned, or already said for this generation)."""
    metadata = body.get("metadata") or {}
    conditions = (body.get("status") or {}).get("conditions")
    ready = next(
        (c for c in conditions if isinstance(c, Mapping) and c.get("type") == READY), {}
    ) if isinstance(conditions, list) else {}
    if ready.get("observedGeneration") == metadata.get("generation"):
        return None  # this generation was looked at before
    applied = (metadata.get("annotations") or {}).get(LAST_APPLIED)
    if not isinstance(applied, str):
        return None
    try:
        document = json.loads(applied)  # bounded: annotations hold at most 256 KiB
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    unknown = [path for path in admit(document, kind).unknown if not path.startswith("status")]
    if not unknown:
        return None
    shown = ", ".join(unknown[:_MAX_SHOWN]) + (f" and {len(unknown) - _MAX_SHOWN} more" if len(unknown) > _MAX_SHOWN else "")
    return Event(
        "Warning",
        "UnknownFields",
        f"the API server dropped {shown}: not in the {kind} schema (a typo?); `kubectl apply --validate=strict` "
        "refuses such fields instead",
    )
