"""Deterministic Azure resource names for a CR's cloud objects.

Scheme: `<prefix>-<cr-name>-<hash>[-<suffix>]`, e.g. `pe-confluent-1a2b3c-az1`, `lb-transit-4d5e6f`.

- `<hash>` is the first 6 hex digits of SHA-256 of `<namespace>/<name>`. It is *always* there: two CRs
  with the same name in different namespaces may point at the same resource group, and their objects
  must not collide (nor adopt each other). The prefix tells the kinds apart (`pe` is only made by a
  ConfluentPrivateLink, `lb`/`pls`/`vmss`/`nsg` only by a ServerlessTransit).
- `<cr-name>` is the Kubernetes name with `.` turned into `-`, cut so the whole name fits the Azure limit
  of that type (private endpoint, private link service and VMSS 64, others 80: learn.microsoft.com/azure/
  azure-resource-manager/management/resource-name-rules); the hash keeps cut names distinct. A name that
  did not need cutting is the same as before the PLS limit was corrected from 80 to 64 (longer ones were
  refused by Azure, so no such object can exist).
- Only `[a-z0-9-]` appear, starting and ending with a letter or digit: valid for every type used here.
- Names never change for a given namespace/name: renaming the scheme would orphan objects, so don't.

The VMSS computer-name prefix (a Linux host name, Azure appends 6 characters) is `<cr-name cut to 8>-<hash>`.
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "FRONTEND_IP_CONFIG_NAME",
    "GATEWAY_IP_CONFIG_NAME",
    "GATEWAY_POOL_NAME",
    "HAPROXY_POOL_NAME",
    "HAPROXY_PROBE_NAME",
    "IP_CONFIG_NAME",
    "NIC_CONFIG_NAME",
    "PLS_NAT_IP_CONFIG_NAME",
    "PRIVATE_FRONTEND_NAME",
    "PRIVATE_LINK_CONFIG_NAME",
    "PRIVATE_LINK_IP_CONFIG_NAME",
    "PUBLIC_FRONTEND_NAME",
    "STATUS_PROBE_NAME",
    "STATUS_RULE_NAME",
    "build_application_gateway_name",
    "build_computer_name_prefix",
    "build_load_balancer_name",
    "build_nsg_name",
    "build_private_endpoint_connection_name",
    "build_private_endpoint_name",
    "build_private_endpoint_nic_name",
    "build_private_link_service_name",
    "build_public_ip_name",
    "build_resource_name",
    "build_vmss_name",
    "build_vnet_link_name",
    "frontend_port_name",
    "lb_rule_name",
    "listener_name",
    "name_hash",
]

# Child object names inside the LB / PLS / VMSS bodies (fixed: one of each per transit).
FRONTEND_IP_CONFIG_NAME = "frontend"
PLS_NAT_IP_CONFIG_NAME = "nat-1"
NIC_CONFIG_NAME = "nic"
IP_CONFIG_NAME = "ipconfig"
# Option haproxy's LB backend pool and health probe (names in existing load balancers: never renamed).
HAPROXY_POOL_NAME = "haproxy"
HAPROXY_PROBE_NAME = "haproxy-health"
# Option haproxy's status endpoint (`spec.haproxy.statusEndpoint`): its LB rule and TCP probe.
STATUS_PROBE_NAME = "haproxy-status"
STATUS_RULE_NAME = "status"
# Child object names inside an Application Gateway body (one of each per transit, one per port where noted).
GATEWAY_IP_CONFIG_NAME = "gateway-subnet"
PUBLIC_FRONTEND_NAME = "public-frontend"
# The NCC rule's `group_id` is a frontend's name: App Gateway offers each private-link-enabled frontend as a
# sub-resource.
PRIVATE_FRONTEND_NAME = "private-frontend"
PRIVATE_LINK_CONFIG_NAME = "private-link"
PRIVATE_LINK_IP_CONFIG_NAME = "private-link-ip-1"
GATEWAY_POOL_NAME = "confluent"

_HASH_LEN = 6
_MAX_PRIVATE_ENDPOINT = 64
_MAX_PRIVATE_LINK_SERVICE = 64
_MAX_VMSS = 64
_MAX_DEFAULT = 80
_NOT_ALLOWED = re.compile(r"[^a-z0-9-]+")


def name_hash(namespace: str, name: str) -> str:
    """6 hex digits identifying `<namespace>/<name>`."""
    return hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:_HASH_LEN]


def _clean(text: str) -> str:
    return re.sub(r"-{2,}", "-", _NOT_ALLOWED.sub("-", text.lower())).strip("-")


def build_resource_name(
    prefix: str, namespace: str, name: str, *, suffix: str | None = None, max_length: int = _MAX_DEFAULT
) -> str:
    """`<prefix>-<name cut to fit>-<hash>[-<suffix>]`, at most `max_length` characters."""
    tail = name_hash(namespace, name) + (f"-{_clean(suffix)}" if suffix else "")
    room = max_length - len(prefix) - len(tail) - 2
    if room < 1:
        raise ValueError(f"no room for the name in {max_length} characters with prefix {prefix!r}")
    middle = _clean(name)[:room].strip("-") or "x"
    return f"{prefix}-{middle}-{tail}"


def build_private_endpoint_name(namespace: str, name: str, zone: str) -> str:
    return build_resource_name("pe", namespace, name, suffix=zone, max_length=_MAX_PRIVATE_ENDPOINT)


def build_private_endpoint_nic_name(private_endpoint_name: str) -> str:
    """`customNetworkInterfaceName` of a private endpoint: a known NIC name to read the endpoint IP from."""
    return f"{private_endpoint_name}-nic"


def build_private_endpoint_connection_name(zone: str) -> str:
    """Name of the manual connection inside a private endpoint (unique within the endpoint only)."""
    return f"confluent-{zone}"


def build_vnet_link_name(virtual_network_id: str) -> str:
    """VNet link name in the private DNS zone: VNet name + hash of its full id (names repeat across RGs)."""
    vnet_name = virtual_network_id.rstrip("/").rsplit("/", 1)[-1]
    digest = hashlib.sha256(virtual_network_id.lower().encode()).hexdigest()[:_HASH_LEN]
    room = _MAX_DEFAULT - len("link--") - _HASH_LEN
    return f"link-{(_clean(vnet_name)[:room].strip('-') or 'vnet')}-{digest}"


def build_load_balancer_name(namespace: str, name: str) -> str:
    return build_resource_name("lb", namespace, name)


def build_private_link_service_name(namespace: str, name: str) -> str:
    return build_resource_name("pls", namespace, name, max_length=_MAX_PRIVATE_LINK_SERVICE)


def build_nsg_name(namespace: str, name: str) -> str:
    return build_resource_name("nsg", namespace, name)


def build_vmss_name(namespace: str, name: str) -> str:
    return build_resource_name("vmss", namespace, name, max_length=_MAX_VMSS)


def build_computer_name_prefix(namespace: str, name: str) -> str:
    """Linux host name prefix of the VMSS instances (15 characters at most; Azure appends the instance suffix)."""
    return f"{(_clean(name)[:8].strip('-') or 'transit')}-{name_hash(namespace, name)}"


def lb_rule_name(port: int) -> str:
    return f"tcp-{port}"


def build_application_gateway_name(namespace: str, name: str) -> str:
    return build_resource_name("agw", namespace, name)


def build_public_ip_name(namespace: str, name: str) -> str:
    return build_resource_name("pip", namespace, name)


def frontend_port_name(port: int) -> str:
    """An Application Gateway frontend port."""
    return f"port-{port}"


def listener_name(port: int) -> str:
    """An Application Gateway's listener, backend settings and routing rule of one port (different
    collections, one name)."""
    return f"tcp-{port}"
