"""ARM resource ids: build them, take them apart, and the api-version each resource type is sent with.

An ARM id is `/subscriptions/{sub}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}` followed by
`/{childType}/{childName}` pairs for child resources (subnets, DNS record sets, LB frontends...). ARM
compares ids case-insensitively; these helpers keep the case they are given.

`parse_resource_id` accepts only ids whose every segment is a plain name: the subscription a GUID, no
empty, `.` or `..` segment (an HTTP client normalises `/subnets/..` to the VNet's URL), no character that
a URL would treat specially (`%`, `?`, `#`, `\\`, whitespace, control characters) and no trailing period
(Azure names never end in one: learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules).
The per-type naming rules of that page (lengths, characters, first and last character) are in the API
models (`api.v1alpha1`), which check the ids users give.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "APPLICATION_GATEWAYS",
    "COMPUTE_API_VERSION",
    "GUID_PATTERN",
    "LABELS",
    "NETWORK_API_VERSION",
    "PRIVATE_DNS_API_VERSION",
    "PUBLIC_IP_ADDRESSES",
    "ResourceId",
    "api_version_for",
    "child_id",
    "label",
    "parse_resource_id",
    "resource_group_id",
    "resource_id",
    "same_id",
    "valid_segment",
]

GUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GUID = re.compile(f"^{GUID_PATTERN}$")
# Any id segment: word characters (Unicode letters and digits: resource group names allow them) and the
# punctuation Azure names and DNS record set names use; never a trailing period, never only dots.
_SEGMENT = re.compile(r"^[\w()*@-]([\w.()*@-]*[\w()*@-])?$")


# The api-versions the pinned SDKs send by default (docs/platform-rules.md#sdk-bodies): the plan shows what goes on the wire.
NETWORK_API_VERSION = "2026-03-01"  # azure-mgmt-network 33.1
COMPUTE_API_VERSION = "2026-04-01"  # azure-mgmt-compute 39
PRIVATE_DNS_API_VERSION = "2024-06-01"  # azure-mgmt-privatedns 2.0 (client-level api_version)

PRIVATE_ENDPOINTS = "Microsoft.Network/privateEndpoints"
PRIVATE_DNS_ZONES = "Microsoft.Network/privateDnsZones"
VIRTUAL_NETWORK_LINKS = "Microsoft.Network/privateDnsZones/virtualNetworkLinks"
LOAD_BALANCERS = "Microsoft.Network/loadBalancers"
PRIVATE_LINK_SERVICES = "Microsoft.Network/privateLinkServices"
NETWORK_SECURITY_GROUPS = "Microsoft.Network/networkSecurityGroups"
VIRTUAL_MACHINE_SCALE_SETS = "Microsoft.Compute/virtualMachineScaleSets"
APPLICATION_GATEWAYS = "Microsoft.Network/applicationGateways"
PUBLIC_IP_ADDRESSES = "Microsoft.Network/publicIPAddresses"

# How events and conditions name a resource of each type ("Created load balancer lb-...").
LABELS = {
    PRIVATE_ENDPOINTS: "private endpoint",
    PRIVATE_DNS_ZONES: "private DNS zone",
    VIRTUAL_NETWORK_LINKS: "VNet link",
    LOAD_BALANCERS: "load balancer",
    PRIVATE_LINK_SERVICES: "private link service",
    NETWORK_SECURITY_GROUPS: "network security group",
    VIRTUAL_MACHINE_SCALE_SETS: "scale set",
    APPLICATION_GATEWAYS: "application gateway",
    PUBLIC_IP_ADDRESSES: "public IP",
}


def label(resource_type: str, name: str) -> str:
    """`load balancer lb-transit-4d5e6f`: a resource as messages name it."""
    known = {key.lower(): value for key, value in LABELS.items()}
    return f"{known.get(resource_type.lower(), resource_type.rsplit('/', 1)[-1])} {name}"


def record_set_type(record_type: str) -> str:
    """`Microsoft.Network/privateDnsZones/A` and friends."""
    return f"{PRIVATE_DNS_ZONES}/{record_type}"


def api_version_for(resource_type: str) -> str:
    """The api-version for an ARM type (`Microsoft.Network/privateDnsZones/...` is Private DNS)."""
    lowered = resource_type.lower()
    if lowered.startswith(PRIVATE_DNS_ZONES.lower()):
        return PRIVATE_DNS_API_VERSION
    if lowered.startswith("microsoft.compute/"):
        return COMPUTE_API_VERSION
    if lowered.startswith("microsoft.network/"):
        return NETWORK_API_VERSION
    raise ValueError(f"no api-version known for resource type {resource_type!r}")


def resource_group_id(subscription_id: str, resource_group: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"


def resource_id(subscription_id: str, resource_group: str, resource_type: str, name: str) -> str:
    """Id of a top-level resource; `resource_type` is `Namespace/type`, e.g. `Microsoft.Network/loadBalancers`."""
    namespace, sep, type_ = resource_type.partition("/")
    if not sep or not type_ or "/" in type_:
        raise ValueError(f"resource type {resource_type!r} is not 'Namespace/type'")
    if not name or "/" in name:
        raise ValueError(f"resource name {name!r} is empty or contains '/'")
    return f"{resource_group_id(subscription_id, resource_group)}/providers/{namespace}/{type_}/{name}"


def child_id(parent_id: str, child_type: str, name: str) -> str:
    """Id of a child resource, e.g. `child_id(lb_id, "backendAddressPools", "pool")`."""
    if not name or "/" in name or not child_type or "/" in child_type:
        raise ValueError(f"child {child_type!r}/{name!r} is not one type segment and one name segment")
    return f"{parent_id.rstrip('/')}/{child_type}/{name}"


@dataclass(frozen=True)
class ResourceId:
    """A parsed ARM id. `children` are the `(type, name)` pairs after the top-level resource."""

    subscription_id: str
    resource_group: str
    namespace: str
    type: str
    name: str
    children: tuple[tuple[str, str], ...] = ()

    @property
    def resource_type(self) -> str:
        """Full type, children included: `Microsoft.Network/virtualNetworks/subnets`."""
        return "/".join([self.namespace, self.type, *(t for t, _ in self.children)])

    @property
    def leaf_name(self) -> str:
        return self.children[-1][1] if self.children else self.name

    @property
    def top_level_id(self) -> str:
        return resource_id(
            self.subscription_id, self.resource_group, f"{self.namespace}/{self.type}", self.name
        )

    @property
    def parent_id(self) -> str | None:
        """The parent's id for a child resource; None for a top-level one."""
        if not self.children:
            return None
        out = self.top_level_id
        for child_type, name in self.children[:-1]:
            out = child_id(out, child_type, name)
        return out


def valid_segment(segment: str) -> bool:
    """A plain name: safe as one URL path segment, never normalised away (see the module docstring)."""
    return bool(_SEGMENT.fullmatch(segment)) and segment.strip(".") != ""


def parse_resource_id(value: str) -> ResourceId:
    """Take an ARM resource id apart. ValueError when it is not one, or a segment is not a plain name."""
    if not value.startswith("/") or value.endswith("/") or len(value) > 2048:
        raise ValueError(f"{value[:120]!r} is not an ARM resource id")
    parts = value[1:].split("/")
    if (
        len(parts) < 8
        or parts[0].lower() != "subscriptions"
        or parts[2].lower() != "resourcegroups"
        or parts[4].lower() != "providers"
        or len(parts) % 2 != 0
    ):
        raise ValueError(f"{value[:120]!r} is not an ARM resource id")
    if not _GUID.fullmatch(parts[1]):
        raise ValueError(f"{value[:120]!r}: subscription {parts[1][:40]!r} is not a GUID")
    bad = next((p for p in parts if not valid_segment(p)), None)
    if bad is not None:
        raise ValueError(f"{value[:120]!r}: segment {bad[:40]!r} is not a valid name")
    children = tuple((parts[i], parts[i + 1]) for i in range(8, len(parts), 2))
    return ResourceId(parts[1], parts[3], parts[5], parts[6], parts[7], children)


def same_id(a: str, b: str) -> bool:
    """ARM ids compare case-insensitively."""
    return a.strip("/").lower() == b.strip("/").lower()
