"""The private endpoints of a ConfluentPrivateLink, one per Confluent zone: ensure, read, retire, report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transit_operator.api.v1alpha1 import Condition, ConfluentPrivateLinkSpec, ZoneStatus, is_private_ipv4
from transit_operator.cloud.arm import Arm
from transit_operator.cloud.errors import CloudError
from transit_operator.cloud.network import endpoint_connection, endpoint_private_ip
from transit_operator.plan import ids, naming
from transit_operator.plan.confluent import build_private_endpoint
from transit_operator.plan.ids import parse_resource_id
from transit_operator.plan.ownership import Owner
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile import timing
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import Event
from transit_operator.reconcile.ownership import OwnedBy
from transit_operator.reconcile.pass_record import PassRecord

APPROVED = "Approved"
BROKEN_STATES = {"rejected": Reason.CONNECTION_REJECTED, "disconnected": Reason.CONNECTION_DISCONNECTED}


def status_ids(values: Any, resource_type: str) -> list[str]:
    """The ARM ids of `resource_type` among values read from status (which anyone allowed to write the
    status subresource could have changed): anything else is ignored, never deleted or written."""
    out: list[str] = []
    for value in values if isinstance(values, list) else [values]:
        if not isinstance(value, str):
            continue
        try:
            parsed = parse_resource_id(value)
        except ValueError:
            continue
        if parsed.resource_type.lower() == resource_type.lower() and value not in out:
            out.append(value)
    return out


# --- one pass ------------------------------------------------------------------------------------------------


def reconcile_zone(
    arm: Arm,
    spec: ConfluentPrivateLinkSpec,
    owner: Owner,
    owned_by: OwnedBy,
    zone: str,
    previous: ZoneStatus | None,
    record: PassRecord,
) -> ZoneStatus:
    """Ensure the zone's private endpoint; its status entry (state, and the IP once Approved)."""
    desired = build_private_endpoint(spec, zone, owner=owner)
    what = f"private endpoint {desired.name} (zone {zone})"
    kept = previous or ZoneStatus(name=zone)  # type: ignore[arg-type]  # zone names come from the spec
    try:
        result = arm.ensure(desired, owned_by)
    except CloudError as exc:
        record.fail(what, exc)
        return kept.model_copy(
            update={
                "private_endpoint_id": desired.id,
                "message": f"{exc.classified.code}: {exc.classified.message}",
            }
        )
    record.note(what, result)
    connection = endpoint_connection(result.observed, naming.build_private_endpoint_connection_name(zone))
    state, description = connection.status, connection.description
    if (result.provisioning_state or "").lower() == "failed":
        description = "provisioningState Failed; the endpoint was PUT again"
    address = endpoint_private_ip(arm, result.observed) if state == APPROVED else None
    if address is not None and not is_private_ipv4(address):  # never into DNS or haproxy.cfg
        description, address = f"endpoint IP {address[:40]!r} is not an RFC 1918 address: left out", None
    return ZoneStatus(
        name=kept.name,
        private_endpoint_id=desired.id,
        private_ip=address,
        connection_state=state,
        message=description,
    )


def retire_zones(
    arm: Arm,
    spec: ConfluentPrivateLinkSpec,
    owned_by: OwnedBy,
    previous_zones: Mapping[str, ZoneStatus],
    record: PassRecord,
) -> list[ZoneStatus]:
    """Endpoints of zones that left the spec: delete them (ours only); listed until gone."""
    wanted = {z.name for z in spec.confluent.zones}
    left: list[ZoneStatus] = []
    for name, seen in previous_zones.items():
        endpoint_id = seen.private_endpoint_id
        if name in wanted or endpoint_id is None or not status_ids(endpoint_id, ids.PRIVATE_ENDPOINTS):
            continue
        what = f"private endpoint {endpoint_id.rsplit('/', 1)[-1]} (zone {name}, no longer in the spec)"
        try:
            result = arm.delete(endpoint_id, owned_by)
        except CloudError as exc:
            record.fail(what, exc)
            left.append(seen)
            continue
        if result.gone or result.action == "NotOwned":
            record.events.append(Event("Normal", "Deleted", f"Deleted {what}"))
            continue
        record.in_flight.append(what)
        left.append(
            seen.model_copy(
                update={"connection_state": None, "private_ip": None, "message": "deleting: zone left the spec"}
            )
        )
    return left


# --- what the zones say ------------------------------------------------------------------------------------


def broken(zone: ZoneStatus) -> Reason | None:
    """The reason when the zone's connection was decided against (Rejected, Disconnected)."""
    return BROKEN_STATES.get((zone.connection_state or "").lower())


def broken_message(zones: list[ZoneStatus]) -> str:
    parts = []
    for z in zones:
        detail = f": {z.message}" if z.message else ""
        parts.append(
            f"zone {z.name}: private endpoint {str(z.private_endpoint_id or '').rsplit('/', 1)[-1]} "
            f"connection is {z.connection_state}{detail}"
        )
    return "; ".join(parts) + (
        ". The provider refused or removed the connection; re-request it on the Confluent side, or change the "
        "spec (a new alias) to create a new request."
    )


def record_zones(record: PassRecord, current: list[ZoneStatus]) -> None:
    """What the spec's zones tell the pass: decided against (stall), awaiting approval, awaiting an IP."""
    decided = [z for z in current if broken(z)]
    if decided:
        record.stall(broken(decided[0]) or Reason.CONNECTION_REJECTED, broken_message(decided))
    pending = [z.name for z in current if not broken(z) and z.connection_state != APPROVED]
    if pending:
        message = f"waiting for Confluent to approve the connection of zone(s) {', '.join(pending)}"
        record.wait(Reason.WAITING_FOR_APPROVAL, message, timing.APPROVAL)
    no_ip = [z.name for z in current if z.connection_state == APPROVED and not z.private_ip]
    if no_ip:
        record.wait(Reason.WAITING_FOR_ENDPOINT_IP, f"no private IP yet for {', '.join(no_ip)}", timing.IN_FLIGHT)


def endpoints_condition(current: list[ZoneStatus], generation: int | None) -> Condition:
    decided = [z for z in current if broken(z)]
    if decided:
        reason = broken(decided[0]) or Reason.CONNECTION_REJECTED
        return cond.domain(cond.ENDPOINTS_APPROVED, False, reason, broken_message(decided), generation)
    not_approved = [z.name for z in current if z.connection_state != APPROVED]
    if not_approved:
        return cond.domain(
            cond.ENDPOINTS_APPROVED,
            False,
            Reason.WAITING_FOR_APPROVAL,
            f"not Approved yet: {', '.join(not_approved)}",
            generation,
        )
    no_ip = [z.name for z in current if not z.private_ip]
    if no_ip:
        return cond.domain(
            cond.ENDPOINTS_APPROVED,
            False,
            Reason.WAITING_FOR_ENDPOINT_IP,
            f"no private IP yet: {', '.join(no_ip)}",
            generation,
        )
    return cond.domain(
        cond.ENDPOINTS_APPROVED, True, Reason.APPROVED, f"{len(current)} endpoint(s) Approved", generation
    )


def transition_events(previous: Mapping[str, ZoneStatus], zones: list[ZoneStatus]) -> list[Event]:
    """Normal events for a connection that became Approved and an endpoint IP that changed. (A connection
    decided against is a problem: the pass's one Warning rule reports it, with every such zone.)"""
    events: list[Event] = []
    for z in zones:
        before = previous.get(z.name)
        was, old_ip = (before.connection_state, before.private_ip) if before else (None, None)
        if z.connection_state != was and z.connection_state == APPROVED:
            events.append(Event("Normal", "Approved", f"zone {z.name}: connection Approved"))
        if z.private_ip and old_ip and z.private_ip != old_ip:
            events.append(
                Event("Normal", "EndpointIpChanged", f"zone {z.name}: endpoint IP {old_ip} -> {z.private_ip}")
            )
    return events
