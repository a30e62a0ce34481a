"""The operator's API identity, written once: the group and version, and per kind its names and the
printer columns its CRD adds.

Read by the CRD generator (`api.crd`), the models (`api.v1alpha1`: the `apiVersion`/`kind` Literals are
checked against this table by tests/unit/test_kinds.py, since a Literal cannot name a constant), the kopf
registrations (`runtime.handlers`), the driver, the plans (`Plan.kind`) and the sandbox command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "API_VERSION",
    "CONFLUENT_PRIVATE_LINK",
    "GROUP",
    "KIND_TABLE",
    "SERVERLESS_TRANSIT",
    "VERSION",
    "Kind",
]

GROUP = "transit.privatelink.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


@dataclass(frozen=True)
class Kind:
    """One kind of this API: what kubectl, kopf and the CRD call it."""

    kind: str  # ConfluentPrivateLink
    plural: str  # confluentprivatelinks: the REST path segment, kopf's resource
    short_name: str  # kubectl get cpl
    # Printer columns between the common Ready and Reason columns (`api.crd`).
    columns: tuple[dict[str, Any], ...] = field(default=())

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


CONFLUENT_PRIVATE_LINK = Kind(
    "ConfluentPrivateLink",
    "confluentprivatelinks",
    "cpl",
    ({"name": "Domain", "type": "string", "jsonPath": ".spec.confluent.dnsDomain"},),
)
SERVERLESS_TRANSIT = Kind(
    "ServerlessTransit",
    "serverlesstransits",
    "sxt",
    (
        {"name": "Option", "type": "string", "jsonPath": ".spec.option"},
        {"name": "Rule", "type": "string", "jsonPath": ".status.ncc.connectionState", "priority": 1},
    ),
)

# Every kind, in the order objects can be applied (a ServerlessTransit references a ConfluentPrivateLink).
KIND_TABLE: tuple[Kind, ...] = (CONFLUENT_PRIVATE_LINK, SERVERLESS_TRANSIT)
