"""ConfluentPrivateLink: customer-side private endpoints to Confluent's zones, and the private DNS for them.

One private endpoint per Confluent zone, each with a *manual* connection to the zone's Private Link
Service alias (Confluent approves it because the subscription is registered for Private Link access; we
cannot approve on their side). Then, when `dns.manageZone`, a private DNS zone named after the Confluent
domain, VNet links without auto-registration, and record sets built from the endpoint IPs that are
known *and* Approved:

    A mode (default)             CNAME mode
    *       A  all zone IPs      endpoint-azN  A      zone N's IP
    *.azN   A  zone N's IP       *.azN         CNAME  endpoint-azN.<domain>
                                 *             CNAME  endpoint-<first healthy zone>.<domain>

plus an explicit bootstrap record when the bootstrap host is more than one label below the domain (a
lone `*` would not be the wildcard that answers it). Glb names (CHASED_PRIVATE networks) need no record of
their own: Confluent's public DNS CNAMEs `e-NNNN-azN-<net>.<region>.azure.glb.confluent.cloud` to
`e-NNNN.azN.<domain>`, which `*.azN` answers with the zone's IP (zone affinity), and the glb bootstrap to
`lkc-xxxxx.<domain>`, which `*` answers. Zones without an Approved endpoint IP get no
records; `*.azN` names of such a zone then fall back to the `*` wildcard (RFC 4592), i.e. to the
healthy zones. Pure: spec + observed facts (status) -> bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transit_operator.api.hostnames import private_name
from transit_operator.api.kinds import CONFLUENT_PRIVATE_LINK
from transit_operator.api.v1alpha1 import (
    ConfluentPrivateLink,
    ConfluentPrivateLinkSpec,
    ConfluentPrivateLinkStatus,
)
from transit_operator.plan import ids, naming
from transit_operator.plan.model import AzureResource, Plan
from transit_operator.plan.ownership import Owner, owner_of_object, owner_tags

__all__ = [
    "APPROVED",
    "KIND",
    "build_confluent_plan",
    "build_dns_records",
    "build_dns_zone",
    "build_private_endpoint",
    "build_vnet_links",
    "healthy_endpoint_ips",
    "private_dns_zone_id",
    "private_endpoint_id",
]

KIND = CONFLUENT_PRIVATE_LINK.kind
APPROVED = "Approved"
CNAME_ENDPOINT_PREFIX = "endpoint-"


def healthy_endpoint_ips(status: ConfluentPrivateLinkStatus | None) -> dict[str, str]:
    """Zone -> endpoint IP for the zones whose connection is Approved and whose IP is known."""
    if status is None:
        return {}
    return {
        zone.name: zone.private_ip
        for zone in status.zones
        if zone.private_ip and (zone.connection_state or "").lower() == APPROVED.lower()
    }


def private_endpoint_id(spec: ConfluentPrivateLinkSpec, owner: Owner, zone: str) -> str:
    name = naming.build_private_endpoint_name(owner.namespace, owner.name, zone)
    return ids.resource_id(spec.azure.subscription_id, spec.azure.resource_group, ids.PRIVATE_ENDPOINTS, name)


def private_dns_zone_id(spec: ConfluentPrivateLinkSpec) -> str:
    return ids.resource_id(
        spec.azure.subscription_id,
        spec.azure.resource_group,
        ids.PRIVATE_DNS_ZONES,
        spec.confluent.dns_domain,
    )


def build_private_endpoint(spec: ConfluentPrivateLinkSpec, zone: str, *, owner: Owner) -> AzureResource:
    """The private endpoint of one Confluent zone, with a manual connection to the zone's alias (or id).

    `customNetworkInterfaceName` gives the endpoint's NIC a known name, so its private IP can be read
    with one GET (`customDnsConfigs` is often empty for a customer PLS; docs/platform-rules.md#private-endpoint-ip).
    """
    by_name = {z.name: z for z in spec.confluent.zones}
    if zone not in by_name:
        raise ValueError(f"zone {zone!r} is not in spec.confluent.zones ({sorted(by_name)})")
    pe_name = naming.build_private_endpoint_name(owner.namespace, owner.name, zone)
    body = {
        "location": spec.azure.location,
        "tags": owner_tags(owner),
        "properties": {
            "subnet": {"id": spec.private_endpoints.subnet_id},
            "customNetworkInterfaceName": naming.build_private_endpoint_nic_name(pe_name),
            "manualPrivateLinkServiceConnections": [
                {
                    "name": naming.build_private_endpoint_connection_name(zone),
                    "properties": {
                        # An alias is accepted here as well as a resource id (what `az network
                        # private-endpoint create --private-connection-resource-id <alias>` sends).
                        "privateLinkServiceId": by_name[zone].private_link_service_alias,
                        "requestMessage": spec.private_endpoints.request_message,
                    },
                }
            ],
        },
    }
    return AzureResource(
        type=ids.PRIVATE_ENDPOINTS,
        id=private_endpoint_id(spec, owner, zone),
        apiVersion=ids.api_version_for(ids.PRIVATE_ENDPOINTS),
        body=body,
        dependsOn=[],
    )


def build_dns_zone(spec: ConfluentPrivateLinkSpec, *, owner: Owner) -> AzureResource:
    """The private DNS zone named after the Confluent domain (private zones are `global`)."""
    return AzureResource(
        type=ids.PRIVATE_DNS_ZONES,
        id=private_dns_zone_id(spec),
        apiVersion=ids.api_version_for(ids.PRIVATE_DNS_ZONES),
        body={"location": "global", "tags": owner_tags(owner), "properties": {}},
        dependsOn=[],
    )


def build_vnet_links(spec: ConfluentPrivateLinkSpec, *, owner: Owner) -> list[AzureResource]:
    """One link per VNet in `dns.virtualNetworkIds`, without auto-registration, sorted by link id."""
    zone_id = private_dns_zone_id(spec)
    links: dict[str, AzureResource] = {}
    for vnet_id in spec.dns.virtual_network_ids:
        link_id = ids.child_id(zone_id, "virtualNetworkLinks", naming.build_vnet_link_name(vnet_id))
        links[link_id.lower()] = AzureResource(
            type=ids.VIRTUAL_NETWORK_LINKS,
            id=link_id,
            apiVersion=ids.api_version_for(ids.VIRTUAL_NETWORK_LINKS),
            body={
                "location": "global",
                "tags": owner_tags(owner),
                "properties": {"virtualNetwork": {"id": vnet_id}, "registrationEnabled": False},
            },
            dependsOn=[zone_id],
        )
    return [links[k] for k in sorted(links)]


def _record(
    spec: ConfluentPrivateLinkSpec,
    owner: Owner,
    record_type: str,
    relative_name: str,
    rdata: dict[str, Any],
    depends_on: list[str],
) -> AzureResource:
    zone_id = private_dns_zone_id(spec)
    type_ = ids.record_set_type(record_type)
    return AzureResource(
        type=type_,
        id=ids.child_id(zone_id, record_type, relative_name),
        apiVersion=ids.api_version_for(type_),
        # Record sets have no tags; ownership goes into `metadata`.
        body={"properties": {"metadata": owner_tags(owner), "ttl": spec.dns.ttl, **rdata}},
        dependsOn=[zone_id, *depends_on],
    )


def _bootstrap_relative_name(spec: ConfluentPrivateLinkSpec) -> str | None:
    """The bootstrap host relative to the domain when `*` alone would not answer it, else None. A glb
    bootstrap counts as its private name, the one public DNS CNAMEs it to (`api.hostnames`)."""
    host = private_name(spec.confluent.bootstrap_host, spec.confluent.dns_domain)
    relative = host[: -len(spec.confluent.dns_domain) - 1]
    return relative if "." in relative else None


def build_dns_records(
    spec: ConfluentPrivateLinkSpec, endpoint_ips: Mapping[str, str], *, owner: Owner
) -> list[AzureResource]:
    """Record sets for the zones in `endpoint_ips` (zone -> IP of an Approved endpoint).

    Zones not in `spec.confluent.zones` are ignored. No IP at all -> no records. Deterministic order:
    per-zone records by zone name, then the wildcard, then the bootstrap record.
    """
    spec_zones = {z.name for z in spec.confluent.zones}
    known = sorted((zone, ip) for zone, ip in endpoint_ips.items() if zone in spec_zones and ip)
    if not known:
        return []
    domain = spec.confluent.dns_domain
    pe_ids = {zone: private_endpoint_id(spec, owner, zone) for zone, _ in known}
    all_pe_ids = [pe_ids[zone] for zone, _ in known]
    records: list[AzureResource] = []
    bootstrap = _bootstrap_relative_name(spec)
    if spec.dns.record_type == "A":
        for zone, ip in known:
            records.append(
                _record(spec, owner, "A", f"*.{zone}", {"aRecords": [{"ipv4Address": ip}]}, [pe_ids[zone]])
            )
        all_ips = {"aRecords": [{"ipv4Address": ip} for _, ip in known]}
        records.append(_record(spec, owner, "A", "*", all_ips, all_pe_ids))
        if bootstrap is not None:
            records.append(_record(spec, owner, "A", bootstrap, all_ips, all_pe_ids))
        return records
    # CNAME mode: the IPs live in one A record per zone; names point at them.
    for zone, ip in known:
        target = f"{CNAME_ENDPOINT_PREFIX}{zone}"
        records.append(_record(spec, owner, "A", target, {"aRecords": [{"ipv4Address": ip}]}, [pe_ids[zone]]))
    for zone, _ in known:
        target = f"{CNAME_ENDPOINT_PREFIX}{zone}"
        cname = {"cnameRecord": {"cname": f"{target}.{domain}"}}
        records.append(
            _record(
                spec,
                owner,
                "CNAME",
                f"*.{zone}",
                cname,
                [ids.child_id(private_dns_zone_id(spec), "A", target)],
            )
        )
    first = f"{CNAME_ENDPOINT_PREFIX}{known[0][0]}"
    first_id = ids.child_id(private_dns_zone_id(spec), "A", first)
    first_cname = {"cnameRecord": {"cname": f"{first}.{domain}"}}
    records.append(_record(spec, owner, "CNAME", "*", first_cname, [first_id]))
    if bootstrap is not None:
        records.append(_record(spec, owner, "CNAME", bootstrap, first_cname, [first_id]))
    return records


def _waiting(
    spec: ConfluentPrivateLinkSpec, status: ConfluentPrivateLinkStatus | None, owner: Owner
) -> list[str]:
    observed = {z.name: z for z in (status.zones if status else [])}
    healthy = healthy_endpoint_ips(status)
    out: list[str] = []
    for zone in sorted(z.name for z in spec.confluent.zones):
        if zone in healthy:
            continue
        pe_name = naming.build_private_endpoint_name(owner.namespace, owner.name, zone)
        seen = observed.get(zone)
        state = (seen.connection_state if seen else None) or "unknown"
        ip = (seen.private_ip if seen else None) or "unknown"
        what = f"DNS records for zone {zone}" if spec.dns.manage_zone else f"zone {zone}"
        out.append(
            f"{what} wait for private endpoint {pe_name} to be Approved with a private IP "
            f"(connection: {state}, IP: {ip})"
        )
    return out


def build_confluent_plan(cpl: ConfluentPrivateLink, *, uid: str | None) -> Plan:
    """Everything a ConfluentPrivateLink wants: endpoints, then (when DNS is managed) zone, links, records.

    Record sets come from `cpl.status.zones` (Approved with a known IP); `waiting` names the zones that
    have none yet. Order: dependencies first.
    """
    owner = owner_of_object(cpl, uid=uid)
    spec = cpl.spec
    zones = sorted(z.name for z in spec.confluent.zones)
    azure = [build_private_endpoint(spec, zone, owner=owner) for zone in zones]
    if spec.dns.manage_zone:
        azure.append(build_dns_zone(spec, owner=owner))
        azure += build_vnet_links(spec, owner=owner)
        azure += build_dns_records(spec, healthy_endpoint_ips(cpl.status), owner=owner)
    return Plan(
        kind=KIND,
        namespace=owner.namespace,
        name=owner.name,
        azure=azure,
        databricks=[],
        files={},
        waiting=_waiting(spec, cpl.status, owner),
    )
