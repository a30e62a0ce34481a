"""ConfluentPrivateLink `finalize`: delete (reverse dependency order) or release (Orphan) what it owns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transit_operator.api.v1alpha1 import ConfluentPrivateLink, ConfluentPrivateLinkStatus
from transit_operator.cloud.arm import Arm
from transit_operator.cloud.context import CloudContext
from transit_operator.cloud.errors import TransitError
from transit_operator.plan import ids
from transit_operator.plan.confluent import KIND, private_dns_zone_id, private_endpoint_id
from transit_operator.plan.ownership import Owner, owner_of_object
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile import timing
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.confluent.dns import forget_steady_turns, release_dns_zone, remove_dns_zone
from transit_operator.reconcile.confluent.endpoints import status_ids
from transit_operator.reconcile.outcome import Event, Outcome
from transit_operator.reconcile.ownership import OwnedBy
from transit_operator.reconcile.pass_record import (
    Clock,
    build_outcome,
    deleting_failed,
    previous_status,
    utcnow,
    validated,
)

__all__ = ["finalize"]


def finalize(body: dict[str, Any], ctx: CloudContext, *, clock: Clock = utcnow) -> Outcome:
    """Delete (reverse dependency order) or release (Orphan) everything this object owns.

    `done` becomes True once nothing of ours is left (Delete) or every tag of ours is removed (Orphan).
    Works from the spec when it is valid, and from the ids in status either way.
    """
    metadata = body.get("metadata") or {}
    generation = metadata.get("generation")
    previous = previous_status(ConfluentPrivateLinkStatus, body)
    policy = (body.get("spec") or {}).get("deletionPolicy") or "Delete"
    owner, endpoint_ids, zone_ids = _finalize_targets(body, previous)
    if owner is None:
        # Without a valid spec or uid nothing can be proven ours: leave the cloud as it is.
        return Outcome(
            status=previous,
            done=True,
            events=[Event("Warning", "NothingReleased", "no owner identity: cloud left as is")],
        )
    owned_by = OwnedBy(owner)
    arm = Arm(ctx)
    events: list[Event] = []
    try:
        if policy == "Orphan":
            done = _release_all(arm, owned_by, endpoint_ids, zone_ids, events)
        else:
            done = _delete_all(arm, owned_by, endpoint_ids, zone_ids, events)
    except TransitError as exc:
        return deleting_failed(previous, generation, exc, clock(), events=events)
    if done:
        forget_steady_turns(owner)
    verb = "released" if policy == "Orphan" else "deleted"
    message = f"cloud resources {verb}" if done else f"{policy}: waiting for deletions to finish"
    return build_outcome(
        previous,
        generation,
        cond.reconciling(Reason.DELETING, message, generation),
        clock(),
        events=events,
        requeue_after=None if done else timing.IN_FLIGHT,
        done=done,
    )


def _finalize_targets(
    body: Mapping[str, Any], previous: ConfluentPrivateLinkStatus
) -> tuple[Owner | None, list[str], list[str]]:
    metadata = body.get("metadata") or {}
    endpoint_ids: dict[str, str] = {}
    zone_ids = status_ids([previous.dns_zone_id, *previous.retiring_dns_zone_ids], ids.PRIVATE_DNS_ZONES)
    owner: Owner | None = None
    cpl = validated(ConfluentPrivateLink, body)
    if not isinstance(cpl, str):
        owner = owner_of_object(cpl, uid=metadata.get("uid"))
        for zone in cpl.spec.confluent.zones:
            pe_id = private_endpoint_id(cpl.spec, owner, zone.name)
            endpoint_ids[pe_id.lower()] = pe_id
        if cpl.spec.dns.manage_zone and private_dns_zone_id(cpl.spec) not in zone_ids:
            zone_ids.append(private_dns_zone_id(cpl.spec))
    elif metadata.get("name"):
        owner = Owner(KIND, metadata.get("namespace") or "default", metadata["name"], metadata.get("uid"))
    recorded = [z.private_endpoint_id for z in previous.zones]
    for pe_id in status_ids(recorded, ids.PRIVATE_ENDPOINTS):
        endpoint_ids.setdefault(pe_id.lower(), pe_id)
    return owner, sorted(endpoint_ids.values()), zone_ids


def _delete_all(
    arm: Arm, owned_by: OwnedBy, endpoint_ids: list[str], zone_ids: list[str], events: list[Event]
) -> bool:
    """Records -> links -> zone -> endpoints; each layer only once the previous one is gone."""
    zones_done = [remove_dns_zone(arm, owned_by, zone_id, events) for zone_id in zone_ids]
    if not all(zones_done):
        return False
    done = True
    for pe_id in endpoint_ids:
        result = arm.delete(pe_id, owned_by)
        if result.action == "Deleted":
            events.append(Event("Normal", "Deleted", f"Deleted private endpoint {pe_id.rsplit('/', 1)[-1]}"))
        done = done and (result.gone or result.action == "NotOwned")
    return done


def _release_all(
    arm: Arm, owned_by: OwnedBy, endpoint_ids: list[str], zone_ids: list[str], events: list[Event]
) -> bool:
    released = sum(arm.release(pe_id, owned_by) == "Released" for pe_id in endpoint_ids)
    released += sum(release_dns_zone(arm, owned_by, zone_id) for zone_id in zone_ids)
    if released:
        events.append(
            Event("Normal", "Released", f"Removed ownership tags from {released} resource(s); left in place")
        )
    return True
