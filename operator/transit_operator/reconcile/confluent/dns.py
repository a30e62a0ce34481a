"""Private DNS of a ConfluentPrivateLink: the zone, its VNet links and record sets; earlier zones retired.

Links and records are kept the same way (`sync_children`): one list call, stale children of ours removed
first (a record name cannot be A and CNAME at once), then each desired one ensured with the body the list
returned (no GET per child).

Private DNS allows ~500 GETs per 5 minutes per subscription (docs/platform-rules.md#read-budget), and each of the zone, its
links and its records is one GET. A drift check of an object whose DNS was in place and whose endpoint IPs
did not change (`steady`) reads ONE of the three, in turn (`DNS_ASPECTS`; the turn is counted per object in
this process, starting at an offset per object): one Private DNS GET per ConfluentPrivateLink per drift
interval, and an out-of-band change to any of them is still seen and repaired, within three drift checks
instead of one. A pass that finds something wrong (a missing zone, link or record, an error) leaves DnsReady
False, so the next pass reads all three again.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Mapping, Sequence

from transit_operator.api.v1alpha1 import ConfluentPrivateLinkSpec, ConfluentPrivateLinkStatus
from transit_operator.cloud.arm import Arm, provisioning_state, tags_of
from transit_operator.cloud.errors import CloudError
from transit_operator.plan import ids
from transit_operator.plan.confluent import build_dns_records, build_dns_zone, build_vnet_links
from transit_operator.plan.model import AzureResource
from transit_operator.plan.ownership import Owner
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.confluent.endpoints import status_ids
from transit_operator.reconcile.outcome import Event
from transit_operator.reconcile.ownership import OwnedBy
from transit_operator.reconcile.pass_record import PassRecord, error_reason, error_text

_LINKS = "virtualNetworkLinks"
_RECORDS = "recordSets"
_ZONE = "zone"
DNS_ASPECTS = (_ZONE, _LINKS, _RECORDS)


_turns: dict[str, int] = {}
_turns_lock = threading.Lock()


def _turn_key(owner: Owner) -> str:
    return owner.uid or f"{owner.namespace}/{owner.name}"


def steady_aspect(owner: Owner) -> str:
    """The one part of the DNS this steady drift check of `owner`'s object reads: consecutive checks take
    the three in turn; objects start at different ones, so their reads of each kind are spread."""
    key = _turn_key(owner)
    with _turns_lock:
        turn = _turns.get(key, zlib.crc32(key.encode()))
        _turns[key] = turn + 1
    return DNS_ASPECTS[turn % len(DNS_ASPECTS)]


def forget_steady_turns(owner: Owner) -> None:
    """The object is gone (finalized): its turn is not kept for the rest of the process's life."""
    with _turns_lock:
        _turns.pop(_turn_key(owner), None)


def _label(child: str, child_id: str) -> str:
    parts = child_id.rstrip("/").split("/")
    return f"DNS record {parts[-1]} {parts[-2]}" if child == _RECORDS else f"VNet link {parts[-1]}"


def sync_children(
    arm: Arm,
    zone_id: str,
    child: str,
    desired: Sequence[AzureResource],
    owned_by: OwnedBy,
    record: PassRecord,
    *,
    one_event: str | None = None,
) -> bool:
    """List the zone's `child`ren once, remove stale ones of ours, ensure the desired ones. `one_event`:
    announce the writes in one Normal event of this reason instead of one per child. True when every
    child is in place and nothing is in flight."""
    ready = True
    try:
        seen = {str(b.get("id", "")).lower(): b for b in arm.list_children(zone_id, child)}
        wanted = {resource.id.lower() for resource in desired}
        for child_id, body in seen.items():
            if child_id in wanted or not owned_by.is_ours(tags_of(body)):
                continue
            label = _label(child, body["id"])
            starting = provisioning_state(body) != "Deleting"
            gone = arm.delete(body["id"], owned_by, observed=body).gone
            if starting:
                record.writes += 1
                record.events.append(Event("Normal", "Deleted", f"{'Deleted' if gone else 'Deleting'} {label}"))
            if not gone:
                record.in_flight.append(f"deleting {label}")
                ready = False
        written: list[str] = []
        for resource in desired:
            label = _label(child, resource.id)
            try:
                result = arm.ensure(resource, owned_by, observed=seen.get(resource.id.lower()))
            except CloudError as exc:
                record.fail(label, exc)
                ready = False
                continue
            if one_event is None:
                record.note(label, result)
            elif result.wrote:
                record.writes += 1
                written.append(label.removeprefix("DNS record "))
            ready = ready and not result.in_flight
        if written and one_event is not None:
            record.events.append(Event("Normal", one_event, f"Wrote DNS records {', '.join(written)}"))
    except CloudError as exc:
        plural = "record sets" if child == _RECORDS else "VNet links"
        record.fail(f"{plural} of private DNS zone {zone_id.rsplit('/', 1)[-1]}", exc)
        ready = False
    return ready


def reconcile_dns(
    arm: Arm,
    spec: ConfluentPrivateLinkSpec,
    owner: Owner,
    owned_by: OwnedBy,
    healthy: Mapping[str, str],
    record: PassRecord,
    *,
    only: str | None = None,
) -> tuple[bool, Reason, str]:
    """Zone, then VNet links and record sets (`only`: just that one of `DNS_ASPECTS`, a steady drift
    check). Returns (DnsReady, reason, message)."""
    zone = build_dns_zone(spec, owner=owner)
    what = f"private DNS zone {spec.confluent.dns_domain}"
    if only in (None, _ZONE):
        try:
            zone_result = arm.ensure(zone, owned_by)
            record.note(what, zone_result)
        except CloudError as exc:
            record.fail(what, exc)
            return False, error_reason(exc.classified), error_text(what, exc.classified)
        if zone_result.action == "Started" or not zone_result.settled:
            return False, Reason.PROVISIONING, f"{what} is being created"
    links_ready = records_ready = True
    if only in (None, _LINKS):
        links_ready = sync_children(arm, zone.id, _LINKS, build_vnet_links(spec, owner=owner), owned_by, record)
    if only in (None, _RECORDS):
        records = build_dns_records(spec, healthy, owner=owner)
        records_ready = sync_children(
            arm, zone.id, _RECORDS, records, owned_by, record, one_event="DnsRecordsUpdated"
        )
    if not (links_ready and records_ready):
        return False, Reason.PROVISIONING, f"{what}: VNet links or records are being written"
    if not healthy:
        return False, Reason.WAITING_FOR_APPROVAL, "no zone has an Approved endpoint with an IP yet: no records"
    missing = sorted(z.name for z in spec.confluent.zones if z.name not in healthy)
    message = f"records for {', '.join(sorted(healthy))}"
    if missing:
        message += f"; left out (endpoint not Approved): {', '.join(missing)}"
    return True, Reason.RECORDS_PUBLISHED, message


def retire_dns_zones(
    arm: Arm, owned_by: OwnedBy, previous: ConfluentPrivateLinkStatus, current: str | None, record: PassRecord
) -> list[str]:
    """Private DNS zones this object used before (another `dnsDomain`, or `dns.manageZone` turned false):
    remove our records and links and, when it is tagged as ours, the zone. Returns the ones still going."""
    earlier = status_ids([previous.dns_zone_id, *previous.retiring_dns_zone_ids], ids.PRIVATE_DNS_ZONES)
    left: list[str] = []
    for zone_id in earlier:
        if current is not None and zone_id.lower() == current.lower():
            continue
        what = f"earlier private DNS zone {zone_id.rsplit('/', 1)[-1]}"
        try:
            if remove_dns_zone(arm, owned_by, zone_id, record.events):
                continue
            record.in_flight.append(f"removing the {what}")
        except CloudError as exc:
            record.fail(f"removing the {what}", exc)
        left.append(zone_id)
    return left


def remove_dns_zone(arm: Arm, owned_by: OwnedBy, zone_id: str, events: list[Event]) -> bool:
    """Our records and VNet links in the zone, then the zone when it is tagged as ours (each layer once the
    one before is gone). A zone that is not ours (never adopted, or another owner's) stays; only our records
    and links in it go. True once nothing of ours is left there."""
    zone = arm.observe(zone_id)
    if zone is None:
        return True
    for record in arm.list_children(zone_id, _RECORDS):
        if owned_by.is_ours(tags_of(record)):
            arm.delete(record["id"], owned_by, observed=record)
    links_pending = False
    for link in arm.list_children(zone_id, _LINKS):
        if owned_by.is_ours(tags_of(link)):
            links_pending = not arm.delete(link["id"], owned_by, observed=link).gone or links_pending
    if links_pending:
        return False
    if not owned_by.is_ours(tags_of(zone)):
        return True
    if not arm.delete(zone_id, owned_by, observed=zone).gone:
        return False
    events.append(Event("Normal", "Deleted", f"Deleted private DNS zone {zone_id.rsplit('/', 1)[-1]}"))
    return True


def release_dns_zone(arm: Arm, owned_by: OwnedBy, zone_id: str) -> int:
    """Orphan: our tags off the zone's records, links and the zone itself. Returns how many were released."""
    released = 0
    for child in (_RECORDS, _LINKS):
        for body in arm.list_children(zone_id, child):
            if owned_by.is_ours(tags_of(body)):
                released += arm.release(body["id"], owned_by, observed=body) == "Released"
    released += arm.release(zone_id, owned_by) == "Released"
    return released
