"""The `cloud.arm.OwnerRule` of one CR, from `plan.ownership` (cloud never imports plan, so it lives here)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from transit_operator.plan.ownership import MANAGED_BY_TAG, OWNER_TAG, UID_TAG, Owner, owner_of


@dataclass(frozen=True)
class OwnedBy:
    """Judges tags for `owner`: ours (same object), nobody's (no operator tags), or someone else's."""

    owner: Owner

    @property
    def tag_keys(self) -> Collection[str]:
        return (MANAGED_BY_TAG, OWNER_TAG, UID_TAG)

    def is_ours(self, tags: Mapping[str, str] | None) -> bool:
        found = owner_of(tags)
        return found is not None and found.same_object(self.owner)

    def foreign_owner(self, tags: Mapping[str, str] | None) -> str | None:
        found = owner_of(tags)
        if found is None or found.same_object(self.owner):
            return None
        return f"{found.key} (uid {found.uid})" if found.uid else found.key
