"""One ConfluentPrivateLink pass (see the package docstring): zones, DNS, then the shared decision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transit_operator.api.v1alpha1 import (
    ConfluentPrivateLink,
    ConfluentPrivateLinkSpec,
    ConfluentPrivateLinkStatus,
    ZoneStatus,
)
from transit_operator.cloud.arm import Arm
from transit_operator.cloud.context import CloudContext
from transit_operator.cloud.errors import CloudError
from transit_operator.plan.confluent import KIND, private_dns_zone_id
from transit_operator.plan.ownership import owner_of_object
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile import preflight, timing
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.confluent.dns import reconcile_dns, retire_dns_zones, steady_aspect
from transit_operator.reconcile.confluent.endpoints import (
    APPROVED,
    endpoints_condition,
    reconcile_zone,
    record_zones,
    retire_zones,
    transition_events,
)
from transit_operator.reconcile.outcome import Failure, Outcome
from transit_operator.reconcile.ownership import OwnedBy
from transit_operator.reconcile.pass_record import (
    Clock,
    PassRecord,
    build_outcome,
    decide,
    previous_status,
    utcnow,
    validated,
)
from transit_operator.reconcile.typos import pruned_fields_event

__all__ = ["reconcile"]


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
    previous = previous_status(ConfluentPrivateLinkStatus, body)
    cpl = validated(ConfluentPrivateLink, body)
    if isinstance(cpl, str):
        return build_outcome(previous, generation, cond.stalled(Reason.INVALID_SPEC, cpl, generation), clock())
    spec = cpl.spec
    owner = owner_of_object(cpl, uid=metadata.get("uid"))
    owned_by = OwnedBy(owner)
    arm = Arm(ctx)
    if preflight.needed(previous, generation):
        early = _preflight(arm, spec, previous, generation, clock)
        if early is not None:
            return early

    record = PassRecord()
    previous_zones: dict[str, ZoneStatus] = {z.name: z for z in previous.zones}
    wanted = {z.name for z in spec.confluent.zones}
    zones = [
        reconcile_zone(arm, spec, owner, owned_by, name, previous_zones.get(name), record) for name in sorted(wanted)
    ]
    zones += retire_zones(arm, spec, owned_by, previous_zones, record)
    current = [z for z in zones if z.name in wanted]
    record_zones(record, current)

    healthy: dict[str, str] = {
        z.name: z.private_ip for z in current if z.private_ip and z.connection_state == APPROVED
    }
    dns_ok, dns_reason, dns_message = True, Reason.NOT_MANAGED, "dns.manageZone is false"
    dns_zone_id = private_dns_zone_id(spec) if spec.dns.manage_zone else None
    if spec.dns.manage_zone:
        only = None
        if _dns_steady(previous, generation, healthy):
            only = steady_aspect(owner)
        dns_ok, dns_reason, dns_message = reconcile_dns(arm, spec, owner, owned_by, healthy, record, only=only)
        if dns_reason == Reason.PROVISIONING:  # zones without an Approved IP are waited for above
            record.wait(Reason.PROVISIONING, dns_message, timing.IN_FLIGHT)
    retiring = retire_dns_zones(arm, owned_by, previous, dns_zone_id, record)

    ips = ", ".join(f"{z.name}={z.private_ip}" for z in current)
    summary, requeue = decide(record, generation, f"endpoints Approved ({ips}); DNS: {dns_message}")
    return build_outcome(
        previous,
        generation,
        [
            *summary,
            endpoints_condition(current, generation),
            cond.domain(cond.DNS_READY, dns_ok, dns_reason, dns_message, generation),
        ],
        clock(),
        fields={"zones": zones, "dns_zone_id": dns_zone_id, "retiring_dns_zone_ids": retiring},
        events=record.events + transition_events(previous_zones, zones),
        requeue_after=requeue,
        failure=record.failure,
    )


def _dns_steady(previous: ConfluentPrivateLinkStatus, generation: int | None, healthy: Mapping[str, str]) -> bool:
    """A drift check of DNS in place: Ready and DnsReady at this generation, the same endpoint IPs as the
    records were written for (`reconcile.confluent.dns`: then one Private DNS read per pass is enough)."""
    if preflight.needed(previous, generation):
        return False
    dns = cond.find(previous.conditions, cond.DNS_READY)
    if dns is None or dns.status != "True" or dns.observed_generation != generation:
        return False
    before = {z.name: z.private_ip for z in previous.zones if z.private_ip and z.connection_state == APPROVED}
    return before == dict(healthy)


def _preflight(
    arm: Arm,
    spec: ConfluentPrivateLinkSpec,
    previous: ConfluentPrivateLinkStatus,
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
    record = PassRecord()
    try:
        check = preflight.check_network(
            arm, subnets=[("spec.privateEndpoints.subnetId", spec.private_endpoints.subnet_id)],
            virtual_networks=vnets,
        )
    except CloudError as exc:
        record.fail("reading the network the spec names", exc)
        summary, requeue = decide(record, generation, "")
        return build_outcome(previous, generation, summary, clock(), requeue_after=requeue, failure=record.failure)
    if check.ok:
        return None
    if check.invalid:
        message = "; ".join(check.invalid)
        return build_outcome(previous, generation, cond.stalled(Reason.INVALID_SPEC, message, generation), clock())
    message = "; ".join(check.missing)
    return build_outcome(
        previous,
        generation,
        cond.reconciling(Reason.WAITING_FOR_DEPENDENCY, message, generation),
        clock(),
        requeue_after=timing.PROPAGATION,
        failure=Failure(Reason.WAITING_FOR_DEPENDENCY, message, key=message, stall_after=None),
    )
