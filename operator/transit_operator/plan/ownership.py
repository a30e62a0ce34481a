"""Ownership tags: the one place that says which CR a cloud object belongs to.

Every ARM object the operator creates carries these tags (Private DNS record sets, which have no tags,
carry them as `metadata`). The reconcilers use them to adopt what they created before (same owner and
uid) and to never touch what another owner tagged.

Tag *keys* hold no `/`: Azure refuses `<`, `>`, `%`, `&`, `\\`, `?` and `/` in tag names
(learn.microsoft.com/azure/azure-resource-manager/management/tag-resources, "Limitations"), and Azure DNS
refuses special characters beyond that, so the keys are letters, digits and `-`. The owner *value*
(`<kind>/<namespace>/<name>`) may hold anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transit_operator.api.errors import InvalidSpec

__all__ = [
    "MANAGED_BY",
    "MANAGED_BY_TAG",
    "OWNER_TAG",
    "UID_TAG",
    "Owner",
    "build_ownership_tags",
    "owner_of",
    "owner_of_object",
    "owner_tags",
]

MANAGED_BY_TAG = "managed-by"
MANAGED_BY = "transit-operator"
OWNER_TAG = "transit-operator-owner"
UID_TAG = "transit-operator-uid"


@dataclass(frozen=True)
class Owner:
    """The CR an object belongs to. `uid` is None when unknown (offline `plan`, or an untagged uid)."""

    kind: str
    namespace: str
    name: str
    uid: str | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    def same_object(self, other: Owner) -> bool:
        """Same kind/namespace/name, and the same uid when both know it (a re-created CR has a new uid)."""
        if self.key != other.key:
            return False
        return self.uid is None or other.uid is None or self.uid == other.uid


def build_ownership_tags(kind: str, namespace: str, name: str, uid: str | None) -> dict[str, str]:
    """The tags every cloud object of this CR carries. Without a uid (offline plan) the uid tag is left out."""
    for field, value in (("kind", kind), ("metadata.namespace", namespace), ("metadata.name", name)):
        if not value or "/" in value:
            raise InvalidSpec(f"{value!r} is empty or contains '/'", field=field)
    tags = {MANAGED_BY_TAG: MANAGED_BY, OWNER_TAG: f"{kind}/{namespace}/{name}"}
    if uid:
        tags[UID_TAG] = uid
    return tags


def owner_of(tags: Mapping[str, str] | None) -> Owner | None:
    """Who owns an object according to its tags; None when this operator does not manage it.

    Azure tag names are case-insensitive, so keys are matched case-insensitively.
    """
    if not tags:
        return None
    lowered = {str(k).lower(): v for k, v in tags.items()}
    if lowered.get(MANAGED_BY_TAG) != MANAGED_BY:
        return None
    parts = str(lowered.get(OWNER_TAG, "")).split("/")
    if len(parts) != 3 or not all(parts):
        return None
    uid = lowered.get(UID_TAG) or None
    return Owner(parts[0], parts[1], parts[2], uid)


def owner_tags(owner: Owner) -> dict[str, str]:
    """The tags of every cloud object `owner` makes."""
    return build_ownership_tags(owner.kind, owner.namespace, owner.name, owner.uid)


def owner_of_object(obj: Any, *, uid: str | None) -> Owner:
    """Owner (kind, namespace, name, uid) of a CR model (`kind`, `metadata`); namespace defaults to `default`."""
    metadata = obj.metadata or {}
    name = metadata.get("name")
    if not name:
        raise InvalidSpec("required", field="metadata.name")
    return Owner(obj.kind, metadata.get("namespace") or "default", str(name), uid or metadata.get("uid") or None)
