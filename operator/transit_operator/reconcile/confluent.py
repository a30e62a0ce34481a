"""ConfluentPrivateLink: drive private endpoints and private DNS to the plan, and report what the cloud says.

One pass (`reconcile`), level-based, never blocking:

    1. validate the body with the API models          invalid -> Stalled/InvalidSpec with the field path
    2. per zone: ensure the private endpoint          (one GET; a PUT only when missing/different)
       read its connection state; when Approved, its private IP from the NIC (one GET)
    3. endpoints of zones that left the spec           start deleting them
    0. until Ready at this generation: `reconcile.preflight` (the subnet and the VNets exist) - nothing is
       written while something is missing
    4. when dns.manageZone: ensure the zone; then, once it exists, its VNet links and record sets
       (one list call each; stale ones of ours are removed first) for the *healthy* zones only:
       Approved and with a known IP (a zone that is not is left out, never pointed at nothing).
       A zone of an earlier `dnsDomain` (or the zone, once `dns.manageZone` turned false) is removed with
       our records and links, when tagged as ours (`status.retiringDnsZoneIds` until it is gone)
    5. status: zones, dnsZoneId, conditions (Ready/Reconciling/Stalled + EndpointsApproved, DnsReady),
       and when to come back (`requeue_after`): soon while a write is in flight or an approval is
       Pending, never for a Rejected/Disconnected connection or a fatal error (the drift timer and
       spec changes re-run us).

Long-running operations are started with `polling=False` (`cloud.arm`); the next pass reads their
`provisioningState`, so a restarted operator simply carries on from what the cloud shows.

`finalize` honours `deletionPolicy`: `Delete` removes record sets, VNet links, the zone, then the
endpoints (reverse dependency order; each layer only once the one above it is gone), `Orphan` removes only
our ownership tags. Objects not tagged as ours are never deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from transit_operator.api.v1alpha1 import ConfluentPrivateLink, ConfluentPrivateLinkSpec, is_private_ipv4
from transit_operator.cloud.arm import Arm, provisioning_state
from transit_operator.cloud.context import CloudContext
from transit_operator.cloud.errors import SLOW, Classified, CloudError
from transit_operator.plan import ids, naming
from transit_operator.plan.confluent import (
    KIND,
    build_dns_records,
    build_dns_zone,
    build_private_endpoint,
    build_vnet_links,
    owner_of_object,
    private_dns_zone_id,
    private_endpoint_id,
)
from transit_operator.plan.ids import parse_resource_id
from transit_operator.plan.ownership import Owner
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile import preflight
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import Event, Failure, Outcome
from transit_operator.reconcile.ownership import OwnedBy
from transit_operator.reconcile.pass_record import (
    MAX_RETRY_DELAY,
    Clock,
    PassRecord,
    error_reason,
    field_path,
    utcnow,
)
from transit_operator.reconcile.typos import pruned_fields_event

__all__ = ["finalize", "reconcile"]

APPROVED = "Approved"
PENDING = "Pending"
BROKEN_STATES = {"rejected": Reason.CONNECTION_REJECTED, "disconnected": Reason.CONNECTION_DISCONNECTED}
# --- one pass's bookkeeping: `reconcile.pass_record.PassRecord` ------------------------------------------


def _error_text(what: str, classified: Classified) -> str:
    return f"{what}: {classified.code}: {classified.message}"


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


# --- reconcile ----------------------------------------------------------------------------------------------


def reconcile(body: dict[str, Any], ctx: CloudContext, *, clock: Clock = utcnow) -> Outcome:
    """One level-based pass for a ConfluentPrivateLink; returns the complete status to write."""
    outcome = _reconcile(body, ctx, clock)
    typo = pruned_fields_event(body, KIND)
    if typo is not None:
        outcome.events.insert(0, typo)
    return outcome


def _reconcile(body: dict[str, Any], ctx: CloudContext, clock: Clock) -> Outcome:
    metadata = body.get("metadata") or {}
    generation = metadata.get("generation")
    previous: dict[str, Any] = dict(body.get("status") or {})
    try:
        cpl = ConfluentPrivateLink.model_validate(
            {k: body[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in body}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        message = f"{field_path(first['loc'])}: {first['msg'].removeprefix('Value error, ')}"
        more = len(exc.errors()) - 1
        if more:
            message += f" (and {more} more)"
        return _outcome(
            previous,
            generation,
            cond.stalled(Reason.INVALID_SPEC, message, generation),
            [],
            clock(),
            events=[Event("Warning", Reason.INVALID_SPEC, message)],
            previous_conditions=previous.get("conditions") or [],
        )
    spec = cpl.spec
    owner = owner_of_object(cpl, uid=metadata.get("uid"))
    rule = OwnedBy(owner)
    arm = Arm(ctx)
    run = PassRecord()
    if preflight.needed(previous, generation):
        early = _preflight(arm, spec, previous, generation, clock)
        if early is not None:
            return early

    previous_zones: dict[str, Mapping[str, Any]] = {
        str(z.get("name")): z for z in previous.get("zones") or [] if isinstance(z, Mapping)
    }
    zones = [
        _reconcile_zone(arm, spec, owner, rule, zone.name, previous_zones.get(zone.name), run)
        for zone in sorted(spec.confluent.zones, key=lambda z: z.name)
    ]
    zones += _retire_zones(arm, spec, rule, previous_zones, run)

    healthy = {
        z["name"]: z["privateIp"]
        for z in zones
        if is_private_ipv4(z.get("privateIp"))  # a kept IP comes from status: checked like a spec value
        and (z.get("connectionState") or "").lower() == APPROVED.lower()
        and z["name"] in {s.name for s in spec.confluent.zones}
    }
    dns_ok, dns_reason, dns_message = True, Reason.NOT_MANAGED, "dns.manageZone is false"
    dns_zone_id = private_dns_zone_id(spec) if spec.dns.manage_zone else None
    if spec.dns.manage_zone:
        dns_ok, dns_reason, dns_message = _reconcile_dns(arm, spec, owner, rule, healthy, run)
    retiring = _retire_dns_zones(arm, rule, previous, dns_zone_id, run)

    endpoints_condition = _endpoints_condition(zones, spec, generation)
    summary, requeue = _summary(run, zones, spec, dns_ok, dns_message, generation, ctx)
    status_conditions = [
        *summary,
        endpoints_condition,
        cond.domain(cond.DNS_READY, dns_ok, dns_reason, dns_message, generation),
    ]
    events = run.events + _transition_events(previous_zones, zones)
    events += _error_events(previous.get("conditions") or [], summary)
    outcome = _outcome(
        previous,
        generation,
        status_conditions,
        zones,
        clock(),
        events=events,
        previous_conditions=previous.get("conditions") or [],
    )
    outcome.status["dnsZoneId"] = dns_zone_id
    outcome.status["retiringDnsZoneIds"] = retiring
    outcome.requeue_after = requeue
    outcome.failure = run.failure
    return outcome


def _preflight(
    arm: Arm,
    spec: ConfluentPrivateLinkSpec,
    previous: dict[str, Any],
    generation: int | None,
    clock: Clock,
) -> Outcome | None:
    """`reconcile.preflight` for the endpoints' subnet and the VNets to link: an outcome that writes
    nothing when something is missing or can never work; None when the pass may go on."""
    vnets = (
        [(f"spec.dns.virtualNetworkIds[{i}]", v) for i, v in enumerate(spec.dns.virtual_network_ids)]
        if spec.dns.manage_zone
        else []
    )
    try:
        check = preflight.check_network(
            arm, subnets=[("spec.privateEndpoints.subnetId", spec.private_endpoints.subnet_id)],
            virtual_networks=vnets,
        )
    except CloudError as exc:
        record = PassRecord()
        record.fail("reading the network the spec names", exc)
        what, classified = record.errors[0]
        message = _error_text(what, classified)
        new = (
            cond.reconciling(_reason_of(classified), message, generation)
            if classified.retryable
            else cond.stalled(_reason_of(classified), message, generation)
        )
        delay = classified.delay if classified.retryable else None
        failure = record.failure
    else:
        if check.ok:
            return None
        if check.invalid:
            message = "; ".join(check.invalid)
            new, delay, failure = cond.stalled(Reason.INVALID_SPEC, message, generation), None, None
        else:
            message = "; ".join(check.missing)
            new, delay = cond.reconciling(Reason.WAITING_FOR_DEPENDENCY, message, generation), SLOW
            failure = Failure(Reason.WAITING_FOR_DEPENDENCY, message, key=message, stall_after=None)
    previous_conditions = previous.get("conditions") or []
    before = cond.find(previous_conditions, cond.READY) or {}
    changed = (before.get("reason"), before.get("message")) != (new[0]["reason"], new[0]["message"])
    outcome = _outcome(
        previous, generation, new, [], clock(),
        events=[Event("Warning", new[0]["reason"], message)] if changed else [],
        previous_conditions=previous_conditions,
    )
    outcome.requeue_after, outcome.failure = delay, failure
    return outcome


def _reconcile_zone(
    arm: Arm,
    spec: ConfluentPrivateLinkSpec,
    owner: Owner,
    rule: OwnedBy,
    zone: str,
    previous: Mapping[str, Any] | None,
    run: PassRecord,
) -> dict[str, Any]:
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
        result = arm.ensure(desired, rule)
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


def _retire_dns_zones(
    arm: Arm, rule: OwnedBy, previous: Mapping[str, Any], current: str | None, run: PassRecord
) -> list[str]:
    """Private DNS zones this object used before (another `dnsDomain`, or `dns.manageZone` turned false):
    remove our records and links and, when it is tagged as ours, the zone. Returns the ones still going."""
    earlier = _status_ids(
        [previous.get("dnsZoneId"), *(previous.get("retiringDnsZoneIds") or [])], ids.PRIVATE_DNS_ZONES
    )
    left: list[str] = []
    for zone_id in earlier:
        if current is not None and zone_id.lower() == current.lower():
            continue
        what = f"earlier private DNS zone {zone_id.rsplit('/', 1)[-1]}"
        try:
            if _remove_dns_zone(arm, rule, zone_id, run.events):
                continue
            run.in_flight.append(f"removing the {what}")
        except CloudError as exc:
            run.fail(f"removing the {what}", exc)
        left.append(zone_id)
    return left


def _retire_zones(
    arm: Arm,
    spec: ConfluentPrivateLinkSpec,
    rule: OwnedBy,
    previous_zones: Mapping[str, Any],
    run: PassRecord,
) -> list[dict[str, Any]]:
    """Endpoints of zones that left the spec: delete them (ours only); listed until gone."""
    wanted = {z.name for z in spec.confluent.zones}
    left: list[dict[str, Any]] = []
    for name, seen in previous_zones.items():
        if name in wanted or not _status_ids(seen.get("privateEndpointId"), ids.PRIVATE_ENDPOINTS):
            continue
        what = f"private endpoint {seen['privateEndpointId'].rsplit('/', 1)[-1]} (zone {name}, no longer in the spec)"
        try:
            result = arm.delete(seen["privateEndpointId"], rule)
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


def _reconcile_dns(
    arm: Arm,
    spec: ConfluentPrivateLinkSpec,
    owner: Owner,
    rule: OwnedBy,
    healthy: Mapping[str, str],
    run: PassRecord,
) -> tuple[bool, Reason, str]:
    """Zone, then VNet links and record sets. Returns (DnsReady, reason, message)."""
    zone = build_dns_zone(spec, owner=owner)
    what = f"private DNS zone {spec.confluent.dns_domain}"
    try:
        zone_result = arm.ensure(zone, rule)
        run.note(what, zone_result)
    except CloudError as exc:
        run.fail(what, exc)
        return False, _reason_of(exc.classified), _error_text(what, exc.classified)
    if zone_result.action == "Started" or not zone_result.settled:
        return False, Reason.PROVISIONING, f"{what} is being created"
    ready = True
    # VNet links: one list call; stale links of ours go.
    links = build_vnet_links(spec, owner=owner)
    try:
        seen_links = {
            str(b.get("id", "")).lower(): b for b in arm.list_children(zone.id, "virtualNetworkLinks")
        }
        wanted = {link.id.lower() for link in links}
        for link_id, seen in seen_links.items():
            if link_id not in wanted and rule.is_ours(seen.get("tags")):
                link_name = seen["id"].rsplit("/", 1)[-1]
                if provisioning_state(seen) != "Deleting":
                    run.writes += 1
                    run.events.append(Event("Normal", "Deleted", f"Deleting VNet link {link_name}"))
                if not arm.delete(seen["id"], rule, observed=seen).gone:
                    run.in_flight.append(f"deleting VNet link {link_name}")
                    ready = False
        for link in links:
            link_what = f"VNet link {link.name}"
            try:
                result = arm.ensure(link, rule, observed=seen_links.get(link.id.lower()))
                run.note(link_what, result)
                ready = ready and not result.in_flight
            except CloudError as exc:
                run.fail(link_what, exc)
                ready = False
    except CloudError as exc:
        run.fail(f"VNet links of {what}", exc)
        ready = False
    # Record sets: one list call; stale records of ours go first (a name cannot be A and CNAME at once).
    records = build_dns_records(spec, healthy, owner=owner)
    try:
        seen_records = {str(b.get("id", "")).lower(): b for b in arm.list_children(zone.id, "recordSets")}
        wanted = {record.id.lower() for record in records}
        for record_id, seen in seen_records.items():
            metadata = (seen.get("properties") or {}).get("metadata")
            if record_id not in wanted and rule.is_ours(metadata):
                arm.delete(seen["id"], rule, observed=seen)
                run.writes += 1
                run.events.append(
                    Event("Normal", "Deleted", f"Deleted DNS record {_record_name(seen['id'])}")
                )
        changed: list[str] = []
        for record in records:
            try:
                result = arm.ensure(record, rule, observed=seen_records.get(record.id.lower()))
                if result.wrote:
                    run.writes += 1
                    changed.append(_record_name(record.id))
            except CloudError as exc:
                run.fail(f"DNS record {_record_name(record.id)}", exc)
                ready = False
        if changed:
            run.events.append(Event("Normal", "DnsRecordsUpdated", f"Wrote DNS records {', '.join(changed)}"))
    except CloudError as exc:
        run.fail(f"record sets of {what}", exc)
        ready = False
    if not ready:
        return False, Reason.PROVISIONING, f"{what}: VNet links or records are being written"
    if not healthy:
        return (
            False,
            Reason.WAITING_FOR_APPROVAL,
            "no zone has an Approved endpoint with an IP yet: no records",
        )
    missing = sorted(z.name for z in spec.confluent.zones if z.name not in healthy)
    message = f"records for {', '.join(sorted(healthy))}"
    if missing:
        message += f"; left out (endpoint not Approved): {', '.join(missing)}"
    return True, Reason.RECORDS_PUBLISHED, message


def _record_name(record_id: str) -> str:
    parts = record_id.rstrip("/").split("/")
    return f"{parts[-1]} {parts[-2]}"


def _reason_of(classified: Classified) -> Reason:
    return error_reason(classified)


def _endpoints_condition(
    zones: list[dict[str, Any]], spec: ConfluentPrivateLinkSpec, generation: int | None
) -> dict[str, Any]:
    wanted = {z.name for z in spec.confluent.zones}
    current = [z for z in zones if z["name"] in wanted]
    broken = [z for z in current if (z.get("connectionState") or "").lower() in BROKEN_STATES]
    if broken:
        z = broken[0]
        reason = BROKEN_STATES[z["connectionState"].lower()]
        return cond.domain(cond.ENDPOINTS_APPROVED, False, reason, _broken_message(broken), generation)
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


def _broken_message(broken: list[dict[str, Any]]) -> str:
    parts = []
    for z in broken:
        detail = f": {z['message']}" if z.get("message") else ""
        parts.append(
            f"zone {z['name']}: private endpoint {str(z.get('privateEndpointId', '')).rsplit('/', 1)[-1]} "
            f"connection is {z['connectionState']}{detail}"
        )
    return "; ".join(parts) + (
        ". The provider refused or removed the connection; re-request it on the Confluent side, or change the "
        "spec (a new alias) to create a new request."
    )


def _summary(
    run: PassRecord,
    zones: list[dict[str, Any]],
    spec: ConfluentPrivateLinkSpec,
    dns_ok: bool,
    dns_message: str,
    generation: int | None,
    ctx: CloudContext,
) -> tuple[list[dict[str, Any]], float | None]:
    """The kstatus triple and the requeue delay, by precedence: fatal, broken connection, transient
    error, in flight, waiting, ready."""
    soon = max(float(ctx.polling_interval), 1.0)
    wanted = {z.name for z in spec.confluent.zones}
    current = [z for z in zones if z["name"] in wanted]
    requeue: float | None = soon if run.in_flight else None
    if run.fatal:
        what, classified = run.fatal[0]
        return cond.stalled(_reason_of(classified), _error_text(what, classified), generation), requeue
    broken = [z for z in current if (z.get("connectionState") or "").lower() in BROKEN_STATES]
    if broken:
        # The broken zone waits for a person; the other zones must not: one still Pending (or Approved
        # without an IP yet) is looked at again soon, so it reaches DNS when it is decided, not at the
        # next drift check.
        others_waiting = any(
            z not in broken and (z.get("connectionState") != APPROVED or not z.get("privateIp")) for z in current
        )
        if run.retryable:
            requeue = min(max(c.delay or soon for _, c in run.retryable), MAX_RETRY_DELAY)
        elif others_waiting:
            requeue = soon
        reason = BROKEN_STATES[broken[0]["connectionState"].lower()]
        return cond.stalled(reason, _broken_message(broken), generation), requeue
    if run.retryable:
        what, classified = run.retryable[0]
        delay = max(c.delay or soon for _, c in run.retryable)
        return cond.reconciling(_reason_of(classified), _error_text(what, classified), generation), min(
            delay, MAX_RETRY_DELAY
        )
    if run.in_flight:
        return cond.reconciling(
            Reason.PROVISIONING, "in flight: " + "; ".join(run.in_flight), generation
        ), soon
    pending = [z["name"] for z in current if (z.get("connectionState") or "") != APPROVED]
    if pending:
        message = f"waiting for Confluent to approve the connection of zone(s) {', '.join(pending)}"
        return cond.reconciling(Reason.WAITING_FOR_APPROVAL, message, generation), soon * 2
    no_ip = [z["name"] for z in current if not z.get("privateIp")]
    if no_ip:
        return cond.reconciling(
            Reason.WAITING_FOR_ENDPOINT_IP, f"no private IP yet for {', '.join(no_ip)}", generation
        ), soon
    if not dns_ok and spec.dns.manage_zone:
        return cond.reconciling(Reason.PROVISIONING, dns_message, generation), soon
    ips = ", ".join(f"{z['name']}={z['privateIp']}" for z in current)
    return cond.ready(generation, f"endpoints Approved ({ips}); DNS: {dns_message}"), None


def _transition_events(previous: Mapping[str, Mapping[str, Any]], zones: list[dict[str, Any]]) -> list[Event]:
    events: list[Event] = []
    for z in zones:
        before = previous.get(z["name"]) or {}
        state, was = z.get("connectionState"), before.get("connectionState")
        if state != was and state:
            if state == APPROVED:
                events.append(Event("Normal", "Approved", f"zone {z['name']}: connection Approved"))
            elif state.lower() in BROKEN_STATES:
                events.append(
                    Event(
                        "Warning",
                        BROKEN_STATES[state.lower()],
                        f"zone {z['name']}: connection {state}: {z.get('message') or ''}".rstrip(": "),
                    )
                )
        ip, old_ip = z.get("privateIp"), before.get("privateIp")
        if ip and old_ip and ip != old_ip:
            events.append(
                Event("Normal", "EndpointIpChanged", f"zone {z['name']}: endpoint IP {old_ip} -> {ip}")
            )
    return events


def _error_events(previous_conditions: list[dict[str, Any]], summary: list[dict[str, Any]]) -> list[Event]:
    """A Warning when an error condition appears or changes (not on every retry of the same one)."""
    ready_now = summary[0]
    if ready_now["reason"] not in (
        Reason.TRANSIENT_ERROR, Reason.WAITING_FOR_PROPAGATION, Reason.CLOUD_ERROR, Reason.OWNERSHIP_CONFLICT
    ):
        return []
    before = cond.find(previous_conditions, cond.READY) or {}
    if before.get("reason") == ready_now["reason"] and before.get("message") == ready_now["message"]:
        return []
    return [Event("Warning", ready_now["reason"], ready_now["message"])]


def _outcome(
    previous: Mapping[str, Any],
    generation: int | None,
    new_conditions: list[dict[str, Any]],
    zones: list[dict[str, Any]],
    now: datetime,
    *,
    events: list[Event],
    previous_conditions: list[dict[str, Any]],
) -> Outcome:
    status = {k: v for k, v in previous.items() if k not in ("conditions", "zones", "observedGeneration")}
    status["observedGeneration"] = generation
    status["conditions"] = cond.set_conditions(previous_conditions, new_conditions, now)
    status["zones"] = zones if zones or not previous.get("zones") else previous["zones"]
    return Outcome(status=status, requeue_after=None, events=events)


# --- finalize -------------------------------------------------------------------------------------------


def finalize(body: dict[str, Any], ctx: CloudContext, *, clock: Clock = utcnow) -> Outcome:
    """Delete (reverse dependency order) or release (Orphan) everything this object owns.

    `done` becomes True once nothing of ours is left (Delete) or every tag of ours is removed (Orphan).
    Works from the spec when it is valid, and from the ids in status either way.
    """
    metadata = body.get("metadata") or {}
    generation = metadata.get("generation")
    previous: dict[str, Any] = dict(body.get("status") or {})
    raw_spec = body.get("spec") or {}
    policy = raw_spec.get("deletionPolicy") or "Delete"
    owner, endpoint_ids, zone_ids = _finalize_targets(body, previous)
    if owner is None:
        # Without a valid spec or uid nothing can be proven ours: leave the cloud as it is.
        return Outcome(
            status=previous,
            done=True,
            events=[Event("Warning", "NothingReleased", "no owner identity: cloud left as is")],
        )
    rule = OwnedBy(owner)
    arm = Arm(ctx)
    events: list[Event] = []
    try:
        if policy == "Orphan":
            done = _release_all(arm, rule, endpoint_ids, zone_ids, events)
        else:
            done = _delete_all(arm, rule, endpoint_ids, zone_ids, events)
    except CloudError as exc:
        classified = exc.classified
        message = f"deleting: {classified.code}: {classified.message}"
        new = (
            cond.stalled(_reason_of(classified), message, generation)
            if not classified.retryable
            else cond.reconciling(_reason_of(classified), message, generation)
        )
        status = {
            **previous,
            "conditions": cond.set_conditions(previous.get("conditions") or [], new, clock()),
        }
        delay = classified.delay or max(ctx.polling_interval, 1.0) * 5
        record = PassRecord()
        record.fail("deleting", exc)
        return Outcome(
            status=status,
            requeue_after=delay,
            done=False,
            events=[Event("Warning", _reason_of(classified), message)],
            failure=record.failure
            or Failure(_reason_of(classified), message, key=f"deleting: {classified.code}"),
        )
    verb = "released" if policy == "Orphan" else "deleted"
    message = f"cloud resources {verb}" if done else f"{policy}: waiting for deletions to finish"
    new = cond.reconciling(Reason.DELETING, message, generation)
    status = {**previous, "conditions": cond.set_conditions(previous.get("conditions") or [], new, clock())}
    return Outcome(
        status=status,
        requeue_after=None if done else max(float(ctx.polling_interval), 1.0),
        done=done,
        events=events,
    )


def _status_ids(values: Any, resource_type: str) -> list[str]:
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


def _finalize_targets(
    body: Mapping[str, Any], previous: Mapping[str, Any]
) -> tuple[Owner | None, list[str], list[str]]:
    metadata = body.get("metadata") or {}
    endpoint_ids: dict[str, str] = {}
    zone_ids = _status_ids([previous.get("dnsZoneId"), *(previous.get("retiringDnsZoneIds") or [])],
                           ids.PRIVATE_DNS_ZONES)
    owner: Owner | None = None
    try:
        cpl = ConfluentPrivateLink.model_validate(
            {k: body[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in body}
        )
    except ValidationError:
        cpl = None
    if cpl is not None:
        owner = owner_of_object(cpl, uid=metadata.get("uid"))
        for zone in cpl.spec.confluent.zones:
            pe_id = private_endpoint_id(cpl.spec, owner, zone.name)
            endpoint_ids[pe_id.lower()] = pe_id
        if cpl.spec.dns.manage_zone and private_dns_zone_id(cpl.spec) not in zone_ids:
            zone_ids.append(private_dns_zone_id(cpl.spec))
    elif metadata.get("name"):
        owner = Owner(
            "ConfluentPrivateLink",
            metadata.get("namespace") or "default",
            metadata["name"],
            metadata.get("uid"),
        )
    recorded = [z.get("privateEndpointId") for z in previous.get("zones") or [] if isinstance(z, Mapping)]
    for pe_id in _status_ids(recorded, ids.PRIVATE_ENDPOINTS):
        endpoint_ids.setdefault(pe_id.lower(), pe_id)
    return owner, sorted(endpoint_ids.values()), zone_ids


def _remove_dns_zone(arm: Arm, rule: OwnedBy, zone_id: str, events: list[Event]) -> bool:
    """Our records and VNet links in the zone, then the zone when it is tagged as ours (each layer once the
    one before is gone). A zone that is not ours (never adopted, or another owner's) stays; only our records
    and links in it go. True once nothing of ours is left there."""
    zone = arm.observe(zone_id)
    if zone is None:
        return True
    for record in arm.list_children(zone_id, "recordSets"):
        if rule.is_ours((record.get("properties") or {}).get("metadata")):
            arm.delete(record["id"], rule, observed=record)
    links_pending = False
    for link in arm.list_children(zone_id, "virtualNetworkLinks"):
        if rule.is_ours(link.get("tags")):
            links_pending = not arm.delete(link["id"], rule, observed=link).gone or links_pending
    if links_pending:
        return False
    if not rule.is_ours(zone.get("tags")):
        return True
    if not arm.delete(zone_id, rule, observed=zone).gone:
        return False
    events.append(Event("Normal", "Deleted", f"Deleted private DNS zone {zone_id.rsplit('/', 1)[-1]}"))
    return True


def _delete_all(
    arm: Arm, rule: OwnedBy, endpoint_ids: list[str], zone_ids: list[str], events: list[Event]
) -> bool:
    """Records -> links -> zone -> endpoints; each layer only once the previous one is gone."""
    zones_done = [_remove_dns_zone(arm, rule, zone_id, events) for zone_id in zone_ids]
    if not all(zones_done):
        return False
    done = True
    for pe_id in endpoint_ids:
        result = arm.delete(pe_id, rule)
        if result.action == "Deleted":
            events.append(Event("Normal", "Deleted", f"Deleted private endpoint {pe_id.rsplit('/', 1)[-1]}"))
        done = done and (result.gone or result.action == "NotOwned")
    return done


def _release_all(
    arm: Arm, rule: OwnedBy, endpoint_ids: list[str], zone_ids: list[str], events: list[Event]
) -> bool:
    released = 0
    for pe_id in endpoint_ids:
        released += arm.release(pe_id, rule) == "Released"
    for zone_id in zone_ids:
        for record in arm.list_children(zone_id, "recordSets"):
            if rule.is_ours((record.get("properties") or {}).get("metadata")):
                released += arm.release(record["id"], rule, observed=record) == "Released"
        for link in arm.list_children(zone_id, "virtualNetworkLinks"):
            if rule.is_ours(link.get("tags")):
                released += arm.release(link["id"], rule, observed=link) == "Released"
        released += arm.release(zone_id, rule) == "Released"
    if released:
        events.append(
            Event("Normal", "Released", f"Removed ownership tags from {released} resource(s); left in place")
        )
    return True
