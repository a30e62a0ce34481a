"""Microsoft.Network/privateDnsZones: zones, virtual network links and record sets (api-version 2024-06-01).

Zones and links are global long-running resources; record sets are synchronous child resources addressed
as `.../privateDnsZones/{zone}/{A|AAAA|CNAME|...}/{relative name}`, where the relative name may be `@` (the
apex) or a wildcard like `*` or `*.az1`. A zone is created with its SOA record set. Zones and record sets
honour `If-Match` / `If-None-Match: *` (generic, in `core.py`).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Any

from .core import (
    PRIVATE_DNS_API_VERSIONS,
    Arm,
    ArmError,
    Kind,
    ListOnlyKind,
    ResourceId,
    bad_request,
    lower,
    new_etag,
)

ZONE = "Microsoft.Network/privateDnsZones"
LINK = f"{ZONE}/virtualNetworkLinks"
RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "PTR", "SOA", "SRV", "TXT")
_LABEL = re.compile(r"^(\*|[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)$")
_RECORD_FIELDS = {"A": "aRecords", "AAAA": "aaaaRecords", "CNAME": "cnameRecord", "MX": "mxRecords",
                  "PTR": "ptrRecords", "SOA": "soaRecord", "SRV": "srvRecords", "TXT": "txtRecords"}


def _global(doc: dict[str, Any]) -> None:
    if doc.get("location") != "global":
        raise bad_request("LocationNotAvailableForResourceType",
                          f"The provided location '{doc.get('location')}' is not available for resource type "
                          f"'{doc['type']}'. List of available regions for the resource type is 'global'.")


class PrivateZone(Kind):
    type = ZONE
    api_versions = PRIVATE_DNS_API_VERSIONS
    creating_state = "Creating"
    read_only = ("maxNumberOfRecordSets", "numberOfRecordSets", "maxNumberOfVirtualNetworkLinks",
                 "numberOfVirtualNetworkLinks", "maxNumberOfVirtualNetworkLinksWithRegistration",
                 "numberOfVirtualNetworkLinksWithRegistration", "internalId")

    def validate(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        _global(doc)
        doc["properties"]["internalId"] = (old or {}).get("properties", {}).get("internalId") or str(uuid.uuid4())

    def after_write(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        if old is None:
            soa_id = f"{doc['id']}/SOA/@"
            arm.resources[lower(soa_id)] = {
                "id": soa_id, "name": "@", "type": f"{ZONE}/SOA", "etag": new_etag(),
                "properties": {"ttl": 3600, "fqdn": f"{doc['name']}.", "isAutoRegistered": False,
                               "soaRecord": {"host": "azureprivatedns.net", "email": "azureprivatedns-host.microsoft.com",
                                             "serialNumber": 1, "refreshTime": 3600, "retryTime": 300,
                                             "expireTime": 2419200, "minimumTtl": 10}},
            }

    def _children(self, arm: Arm, doc: dict[str, Any], type_: str | None = None) -> list[dict[str, Any]]:
        prefix = lower(doc["id"]) + "/"
        types = (type_,) if type_ is not None else (LINK, *(f"{ZONE}/{t}" for t in RECORD_TYPES))
        return [d for d in arm.of_type(*types) if lower(d["id"]).startswith(prefix)]

    def check_delete(self, arm: Arm, doc: dict[str, Any]) -> None:
        if self._children(arm, doc, LINK):
            # A zone with virtual network links cannot be deleted (Azure/azure-cli#15010). INVENTED code.
            raise bad_request("CannotDeletePrivateZoneWithVirtualNetworkLinks",
                              f"Private DNS zone {doc['name']} has virtual network links; delete them first.")

    def cascade(self, arm: Arm, doc: dict[str, Any]) -> list[str]:
        return [d["id"] for d in self._children(arm, doc)]

    def decorate(self, arm: Arm, view: dict[str, Any]) -> None:
        doc = arm.get_doc(view["id"])
        assert doc is not None
        links = self._children(arm, doc, LINK)
        records = [d for d in self._children(arm, doc) if d["type"] != LINK]
        view["properties"].update(
            maxNumberOfRecordSets=25000, numberOfRecordSets=len(records), maxNumberOfVirtualNetworkLinks=1000,
            numberOfVirtualNetworkLinks=len(links), maxNumberOfVirtualNetworkLinksWithRegistration=100,
            numberOfVirtualNetworkLinksWithRegistration=sum(bool(lk["properties"].get("registrationEnabled")) for lk in links),
        )


class VirtualNetworkLink(Kind):
    type = LINK
    api_versions = PRIVATE_DNS_API_VERSIONS
    creating_state = "Creating"
    read_only = ("virtualNetworkLinkState",)

    def validate(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        _global(doc)
        props = doc["properties"]
        vnet = props.get("virtualNetwork", {}).get("id")
        if not vnet:
            raise bad_request("BadRequest", "virtualNetwork is required.")
        props.setdefault("registrationEnabled", False)
        props.setdefault("resolutionPolicy", "Default")
        zone_id = ResourceId.parse(doc["id"]).parent  # type: ignore[union-attr]
        for other in arm.of_type(LINK):
            if (lower(other["id"]).startswith(lower(zone_id or "") + "/") and lower(other["id"]) != lower(doc["id"])
                    and lower(other["properties"]["virtualNetwork"]["id"]) == lower(vnet)):
                # UNCONFIRMED code: a VNet can be linked to a zone once.
                raise ArmError(409, "Conflict", f"Virtual network {vnet} is already linked to the zone by {other['name']}.")
        props["virtualNetworkLinkState"] = "Completed"


class RecordSet(Kind):
    api_versions = PRIVATE_DNS_API_VERSIONS
    lro = False
    has_provisioning_state = False  # RecordSetProperties declares none (privatedns 2024-06-01)
    requires_location = False
    top_level_keys = ()
    read_only = ("fqdn", "isAutoRegistered")
    record_type = "A"

    def validate(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        name = doc["name"]
        zone_id = ResourceId.parse(doc["id"]).parent  # type: ignore[union-attr]
        zone = arm.get_doc(zone_id or "")
        assert zone is not None
        labels = name.split(".")
        if name != "@" and (not all(_LABEL.match(label) for label in labels) or "*" in labels[1:]):
            raise bad_request("BadRequest", f"The record set name '{name}' is not valid.")
        props = doc["properties"]
        if not isinstance(props.get("ttl", 3600), int):
            raise bad_request("BadRequest", "ttl must be an integer.")
        props.setdefault("ttl", 3600)
        if self.record_type == "A":
            for record in props.get("aRecords") or []:
                try:
                    ipaddress.IPv4Address(record.get("ipv4Address", ""))
                except ValueError as exc:
                    raise bad_request("BadRequest", f"'{record.get('ipv4Address')}' is not a valid IPv4 address.") from exc
        if self.record_type == "AAAA":
            for record in props.get("aaaaRecords") or []:
                try:
                    ipaddress.IPv6Address(record.get("ipv6Address", ""))
                except ValueError as exc:
                    raise bad_request("BadRequest", f"'{record.get('ipv6Address')}' is not a valid IPv6 address.") from exc
        # CNAME: not at the apex, and alone at its name (RFC 1034 §3.6.2).
        others = [d for d in arm.resources.values()
                  if lower(d["id"]).startswith(lower(zone_id or "") + "/") and d["name"].lower() == name.lower()
                  and d["type"] != self.type and d["type"] != LINK]
        if self.record_type == "CNAME" and (name == "@" or others):
            raise ArmError(409, "Conflict", f"A CNAME record set '{name}' cannot coexist with other record sets "
                           "of the same name or sit at the zone apex.")  # UNCONFIRMED code
        if any(d["type"].endswith("/CNAME") for d in others):
            raise ArmError(409, "Conflict", f"A CNAME record set '{name}' already exists.")  # UNCONFIRMED code
        props["fqdn"] = f"{zone['name']}." if name == "@" else f"{name}.{zone['name']}."
        props["isAutoRegistered"] = False

    def check_delete(self, arm: Arm, doc: dict[str, Any]) -> None:
        if self.record_type == "SOA":
            raise bad_request("BadRequest", "The SOA record set cannot be deleted.")


def _record_kind(record_type: str) -> RecordSet:
    kind = type(f"RecordSet{record_type}", (RecordSet,), {"type": f"{ZONE}/{record_type}", "record_type": record_type})
    return kind()


class AllRecordSets(ListOnlyKind):
    """`GET .../privateDnsZones/{zone}/ALL`: every record set of the zone."""

    type = f"{ZONE}/ALL"
    api_versions = PRIVATE_DNS_API_VERSIONS

    def list(self, arm: Arm, scope: str) -> list[dict[str, Any]]:
        prefix = lower(scope) + "/"
        return [arm.kind(d["type"]).view(arm, d) for k, d in arm.resources.items()
                if k.startswith(prefix) and d["type"] != LINK]


def register(arm: Arm) -> None:
    arm.register(PrivateZone(), VirtualNetworkLink(), AllRecordSets(), *(_record_kind(t) for t in RECORD_TYPES))


__all__ = ["register"]
