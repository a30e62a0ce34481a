"""The private endpoints of a ConfluentPrivateLink, one per Confluent zone: ensure, read, retire, report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transit_operator.api.v1alpha1 import ConfluentPrivateLinkSpec
from transit_operator.cloud.arm import Arm, provisioning_state
from transit_operator.cloud.errors import CloudError
from transit_operator.plan import ids, naming
from transit_operator.plan.confluent import build_private_endpoint
from transit_operator.plan.ids import parse_resource_id
from transit_operator.plan.ownership import Owner
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile.conditions import ConditionDict, Reason
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


# --- reading a private endpoint ----------------------------------------------------------------------------


def _connection(endpoint: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    props = endpoint.get("properties") or {}
    connections = list(props.get("manualPrivateLinkServiceConnections") or []) + list(
        props.get("privateLinkServiceConnections") or []
    )
    for item in connections:
        if str(item.get("name", "")).lower() == name.lower():
            return item
    return connections[0] if connections else None


def _connection_state(endpoint: Mapping[str, Any], name: str) -> tuple[str | None, str | None]:
    """(status, description) of the endpoint's connection, as the provider reports it."""
    connection = _connection(endpoint, name)
    if connection is None:
        return None, None
    state = (connection.get("properties") or {}).get("privateLinkServiceConnectionState") or {}
    return state.get("status"), state.get("description") or None


def _endpoint_ip(arm: Arm, endpoint: Mapping[str, Any]) -> str | None:
    """The endpoint's private IP: from its NIC (reliable for a customer PLS), else from its DNS configs."""
    props = endpoint.get("properties") or {}
    for nic in props.get("networkInterfaces") or []:
        nic_id = nic.get("id") if isinstance(nic, Mapping) else None
        if not nic_id:
            continue
        body = arm.observe(nic_id)
        configs = ((body or {}).get("properties") or {}).get("ipConfigurations") or []
        primary = [c for c in configs if (c.get("properties") or {}).get("primary")] or configs
        for config in primary:
            address = (config.get("properties") or {}).get("privateIPAddress")
            if address:
                return str(address)
    for dns_config in props.get("customDnsConfigs") or []:
        for address in dns_config.get("ipAddresses") or []:
            return str(address)
    for config in props.get("ipConfigurations") or []:
        address = (config.get("properties") or {}).get("privateIPAddress")
        if address:
            return str(address)
    return None


# --- one pass ------------------------------------------------------------------------------------------------


def reconcile_zone(
    arm: Arm,
    spec: ConfluentPrivateLinkSpec,
    owner: Owner,
    owned_by: OwnedBy,
    zone: str,
    previous: Mapping[str, Any] | None,
    run: PassRecord,
) -> dict[str, Any]:
    """Ensure the zone's private endpoint; its status entry (state, and the IP once Approved)."""
    desired = build_private_endpoint(spec, zone, owner=owner)
    what = f"private endpoint {desired.name} (zone {zone})"
    status: dict[str, Any] = {
        "name": zone,
        "privateEndpointId": desired.id,
        "privateIp": (previous or {}).get("privateIp"),
        "connectionState": (previous or {}).get("connectionState"),
        "message": (previous or {}).get("message"),
    }
    try:
        result = arm.ensure(desired, owned_by)
        run.note(what, result)
        state, description = _connection_state(
            result.observed, naming.build_private_endpoint_connection_name(zone)
        )
        status["connectionState"] = state
        status["message"] = description
        status["privateIp"] = _endpoint_ip(arm, result.observed) if state == APPROVED else None
        if (provisioning_state(result.observed) or "").lower() == "failed":
            status["message"] = "provisioningState Failed; the endpoint was PUT again"
    except CloudError as exc:
        run.fail(what, exc)
        status["message"] = f"{exc.classified.code}: {exc.classified.message}"
    return status


def retire_zones(
    arm: Arm,
    spec: ConfluentPrivateLinkSpec,
    owned_by: OwnedBy,
    previous_zones: Mapping[str, Any],
    run: PassRecord,
) -> list[dict[str, Any]]:
    """Endpoints of zones that left the spec: delete them (ours only); listed until gone."""
    wanted = {z.name for z in spec.confluent.zones}
    left: list[dict[str, Any]] = []
    for name, seen in previous_zones.items():
        if name in wanted or not status_ids(seen.get("privateEndpointId"), ids.PRIVATE_ENDPOINTS):
            continue
        what = f"private endpoint {seen['privateEndpointId'].rsplit('/', 1)[-1]} (zone {name}, no longer in the spec)"
        try:
            result = arm.delete(seen["privateEndpointId"], owned_by)
        except CloudError as exc:
            run.fail(what, exc)
            left.append(dict(seen))
            continue
        if result.gone or result.action == "NotOwned":
            run.events.append(Event("Normal", "Deleted", f"Deleted {what}"))
            continue
        run.in_flight.append(what)
        left.append(
            {**seen, "connectionState": None, "privateIp": None, "message": "deleting: zone left the spec"}
        )
    return left


# --- what the zones say ------------------------------------------------------------------------------------


def broken(zone: Mapping[str, Any]) -> Reason | None:
    """The reason when the zone's connection was decided against (Rejected, Disconnected)."""
    return BROKEN_STATES.get((zone.get("connectionState") or "").lower())


def broken_message(zones: list[dict[str, Any]]) -> str:
    parts = []
    for z in zones:
        detail = f": {z['message']}" if z.get("message") else ""
        parts.append(
            f"zone {z['name']}: private endpoint {str(z.get('privateEndpointId', '')).rsplit('/', 1)[-1]} "
            f"connection is {z['connectionState']}{detail}"
        )
    return "; ".join(parts) + (
        ". The provider refused or removed the connection; re-request it on the Confluent side, or change the "
        "spec (a new alias) to create a new request."
    )


def record_zones(run: PassRecord, current: list[dict[str, Any]], soon: float) -> None:
    """What the spec's zones tell the pass: decided against (stall), awaiting approval, awaiting an IP."""
    decided = [z for z in current if broken(z)]
    if decided:
        run.stall(broken(decided[0]) or Reason.CONNECTION_REJECTED, broken_message(decided))
    pending = [z["name"] for z in current if not broken(z) and (z.get("connectionState") or "") != APPROVED]
    if pending:
        # Approval is a person's (or Confluent's) decision: looked at less often than an operation.
        message = f"waiting for Confluent to approve the connection of zone(s) {', '.join(pending)}"
        run.wait(Reason.WAITING_FOR_APPROVAL, message, soon * 2)
    no_ip = [z["name"] for z in current if z.get("connectionState") == APPROVED and not z.get("privateIp")]
    if no_ip:
        run.wait(Reason.WAITING_FOR_ENDPOINT_IP, f"no private IP yet for {', '.join(no_ip)}", soon)


def endpoints_condition(current: list[dict[str, Any]], generation: int | None) -> ConditionDict:
    decided = [z for z in current if broken(z)]
    if decided:
        reason = broken(decided[0]) or Reason.CONNECTION_REJECTED
        return cond.domain(cond.ENDPOINTS_APPROVED, False, reason, broken_message(decided), generation)
    not_approved = [z["name"] for z in current if (z.get("connectionState") or "") != APPROVED]
    if not_approved:
        return cond.domain(
            cond.ENDPOINTS_APPROVED,
            False,
            Reason.WAITING_FOR_APPROVAL,
            f"not Approved yet: {', '.join(not_approved)}",
            generation,
        )
    no_ip = [z["name"] for z in current if not z.get("privateIp")]
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


def transition_events(previous: Mapping[str, Mapping[str, Any]], zones: list[dict[str, Any]]) -> list[Event]:
    """Normal events for a connection that became Approved and an endpoint IP that changed. (A connection
    decided against is a problem: the pass's one Warning rule reports it, with every such zone.)"""
    events: list[Event] = []
    for z in zones:
        before = previous.get(z["name"]) or {}
        state, was = z.get("connectionState"), before.get("connectionState")
        if state != was and state == APPROVED:
            events.append(Event("Normal", "Approved", f"zone {z['name']}: connection Approved"))
        ip, old_ip = z.get("privateIp"), before.get("privateIp")
        if ip and old_ip and ip != old_ip:
            events.append(
                Event("Normal", "EndpointIpChanged", f"zone {z['name']}: endpoint IP {old_ip} -> {ip}")
            )
    return events
