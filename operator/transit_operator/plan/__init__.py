"""Pure desired-state builders: spec + observed facts -> REST-shaped bodies. No I/O, clock or environment.

`build_plan` dispatches on the kind (and, for a ServerlessTransit, on `spec.option` through
`plan.transit.PLANS`); the per-family builders live in `confluent`, `transit/` (one module per option and
the families they share), `ncc`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transit_operator.api.v1alpha1 import ConfluentPrivateLink, ServerlessTransit
from transit_operator.plan.confluent import build_confluent_plan
from transit_operator.plan.model import AzureResource, DatabricksAction, Plan
from transit_operator.plan.transit import build_transit_option_plan

__all__ = ["AzureResource", "DatabricksAction", "Plan", "build_plan"]

CONFLUENT_PRIVATE_LINK = "confluentPrivateLink"


def build_plan(
    obj: ConfluentPrivateLink | ServerlessTransit, *, related: Mapping[str, Any], uid: str | None = None
) -> Plan:
    """The plan of one CR.

    `related` holds the other objects a kind needs: for a ServerlessTransit,
    `{"confluentPrivateLink": ConfluentPrivateLink | None}` (the referenced one, or None when not found).
    `uid` defaults to `metadata.uid` (None offline: the uid tag is then left out).
    """
    if isinstance(obj, ConfluentPrivateLink):
        return build_confluent_plan(obj, uid=uid)
    if isinstance(obj, ServerlessTransit):
        cpl = related.get(CONFLUENT_PRIVATE_LINK)
        if cpl is not None and not isinstance(cpl, ConfluentPrivateLink):
            raise TypeError(f"related[{CONFLUENT_PRIVATE_LINK!r}] is a {type(cpl).__name__}")
        return build_transit_option_plan(obj, cpl=cpl, uid=uid)
    raise TypeError(f"cannot plan a {type(obj).__name__}")
