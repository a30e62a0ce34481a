"""Typed facts about network resources, so that no layer above reads ARM JSON.

The customer's network, read before the operator writes anything: a spec can name a subnet that does not
exist yet, or a static IP that Azure will refuse in that subnet; both are known from one GET each, and
writing the resources that do not depend on them first would leave objects behind that can never be used.
`observe_subnet` and `observe_virtual_network` read them (through `cloud.arm.Arm`, so ids are checked and
errors wrapped like every other call) and `static_ip_problem` says whether an address can be a static
private IP of a subnet. `set_subnet_network_security_group` changes the one subnet field the operator
sets on a subnet it does not own.

What the operator's own resources say, from the body `Arm.ensure` returned (no extra GET unless noted):

    endpoint_connection(body, name)   a private endpoint's connection to its provider: state, description
    endpoint_private_ip(arm, body)    its private IP, from its NIC (one GET), else from its DNS configs
    gateway_backend_ips(body, pool)   the IPs an Application Gateway backend pool really forwards to
    gateway_backend_health(ctx, id)   what the gateway's own probes say of each backend address (the backend
                                      health API: a long-running POST, read-only)

An api-version or SDK change that moves any of these lands here, not in `reconcile`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from transit_operator.cloud.arm import Arm, as_dict
from transit_operator.cloud.context import CloudContext
from transit_operator.cloud.errors import sdk_errors
from transit_operator.plan.ids import parse_resource_id

__all__ = [
    "BackendServerHealth",
    "EndpointConnectionState",
    "SubnetFacts",
    "endpoint_connection",
    "endpoint_private_ip",
    "gateway_backend_health",
    "gateway_backend_ips",
    "observe_subnet",
    "observe_virtual_network",
    "set_subnet_network_security_group",
    "static_ip_problem",
]

# Azure reserves the first four addresses and the last one of every subnet (network address, default
# gateway, two for Azure DNS, broadcast): learn.microsoft.com/azure/virtual-network/virtual-networks-faq
# ("Are there any restrictions on using IP addresses within these subnets?").
_RESERVED_AT_START = 4


@dataclass(frozen=True)
class SubnetFacts:
    id: str
    prefixes: tuple[str, ...]  # addressPrefix / addressPrefixes (IPv4 and IPv6 as Azure returns them)
    provisioning_state: str | None
    network_security_group_id: str | None = None
    observed: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)  # for a write back

    @property
    def settled(self) -> bool:
        """No operation in flight on the subnet (a PUT of it is accepted)."""
        return (self.provisioning_state or "Succeeded").lower() in ("succeeded", "failed")


def observe_subnet(arm: Arm, subnet_id: str) -> SubnetFacts | None:
    """The subnet, or None when it (or its VNet) does not exist."""
    body = arm.observe(subnet_id)
    if body is None:
        return None
    props = body.get("properties") or {}
    prefixes = [str(p) for p in props.get("addressPrefixes") or []]
    if props.get("addressPrefix"):
        prefixes.insert(0, str(props["addressPrefix"]))
    state = props.get("provisioningState")
    nsg = (props.get("networkSecurityGroup") or {}).get("id")
    return SubnetFacts(
        subnet_id, tuple(dict.fromkeys(prefixes)), str(state) if state else None, str(nsg) if nsg else None, body
    )


def set_subnet_network_security_group(arm: Arm, subnet: SubnetFacts, nsg_id: str | None) -> None:
    """One subnet PUT with `networkSecurityGroup` set (or removed), started without polling; the customer's
    own fields go back unchanged (the observed body without what the REST spec marks readOnly).

    Not `Arm.ensure`: a subnet carries no tags (nothing to own), and this is the one field we change."""
    props = dict(arm.writable(subnet.id, subnet.observed).get("properties") or {})
    if nsg_id is None:
        props.pop("networkSecurityGroup", None)
    else:
        props["networkSecurityGroup"] = {"id": nsg_id}
    arm.put(subnet.id, {"properties": props})


def observe_virtual_network(arm: Arm, vnet_id: str) -> bool:
    """True when the VNet exists."""
    return arm.observe(vnet_id) is not None


def static_ip_problem(address: str, prefixes: Sequence[str]) -> str | None:
    """Why `address` cannot be a static private IP in a subnet with `prefixes`; None when it can."""
    ip = ipaddress.ip_address(address)
    networks = []
    for prefix in prefixes:
        try:
            networks.append(ipaddress.ip_network(prefix, strict=False))
        except ValueError:
            continue
    inside = [n for n in networks if n.version == ip.version and ip in n]
    if not inside:
        shown = ", ".join(prefixes) or "no address prefix"
        return f"{address} is not inside the subnet ({shown})"
    network = inside[0]
    offset = int(ip) - int(network.network_address)
    if offset < _RESERVED_AT_START or ip == network.broadcast_address:
        return (
            f"{address} is one of the addresses Azure reserves in {network} (the first four and the last)"
        )
    return None


# --- the operator's own resources, from the body `Arm.ensure` returned -------------------------------------


@dataclass(frozen=True)
class EndpointConnectionState:
    """A private endpoint's connection to the provider's Private Link Service, as the provider reports it."""

    status: str | None  # Pending | Approved | Rejected | Disconnected (None: no connection yet)
    description: str | None


def endpoint_connection(endpoint: Mapping[str, Any], name: str) -> EndpointConnectionState:
    """The connection named `name` (manual or automatic; else the first one) of a private endpoint body."""
    props = endpoint.get("properties") or {}
    connections = list(props.get("manualPrivateLinkServiceConnections") or []) + list(
        props.get("privateLinkServiceConnections") or []
    )
    named = [c for c in connections if str(c.get("name", "")).lower() == name.lower()]
    connection = (named or connections or [None])[0]
    if connection is None:
        return EndpointConnectionState(None, None)
    state = (connection.get("properties") or {}).get("privateLinkServiceConnectionState") or {}
    return EndpointConnectionState(state.get("status"), state.get("description") or None)


def endpoint_private_ip(arm: Arm, endpoint: Mapping[str, Any]) -> str | None:
    """The endpoint's private IP: from its NIC (one GET; reliable for a customer PLS), else from its DNS
    configs or IP configurations."""
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


def gateway_backend_ips(gateway: Mapping[str, Any] | None, pool: str) -> list[str]:
    """The IPs an Application Gateway's backend pool `pool` forwards to, as Azure reports them."""
    props = (gateway or {}).get("properties") or {}
    for candidate in props.get("backendAddressPools") or []:
        if str(candidate.get("name", "")).lower() == pool.lower():
            addresses = (candidate.get("properties") or {}).get("backendAddresses") or []
            return [str(a["ipAddress"]) for a in addresses if a.get("ipAddress")]
    return []


@dataclass(frozen=True)
class BackendServerHealth:
    """One backend address of an Application Gateway as the gateway's health probes see it."""

    pool: str  # the backend address pool's name
    address: str
    health: str  # Up | Down | Partial | Draining | Unknown (ApplicationGatewayBackendHealthServerHealth)
    log: str | None  # healthProbeLog: why, in Azure's words (e.g. "Cannot connect to backend server")

    @property
    def up(self) -> bool:
        return self.health.lower() == "up"


def gateway_backend_health(ctx: CloudContext, gateway_id: str) -> list[BackendServerHealth]:
    """The gateway's backend health (`POST .../applicationGateways/{name}/backendhealth`, api-version
    2026-03-01, a long-running operation answering `ApplicationGatewayBackendHealth`): one entry per backend
    address of every pool and backend setting. Read-only; it costs one POST and a few polls (Azure answers
    in seconds to a minute)."""
    parsed = parse_resource_id(gateway_id)
    client = ctx.network(parsed.subscription_id)
    with sdk_errors():
        result = client.application_gateways.begin_backend_health(parsed.resource_group, parsed.name).result()
    body = as_dict(result)
    servers: list[BackendServerHealth] = []
    for pool in body.get("backendAddressPools") or []:
        pool_name = str((pool.get("backendAddressPool") or {}).get("id", "")).rsplit("/", 1)[-1]
        for setting in pool.get("backendHttpSettingsCollection") or []:
            for server in setting.get("servers") or []:
                servers.append(
                    BackendServerHealth(
                        pool=pool_name,
                        address=str(server.get("address") or ""),
                        health=str(server.get("health") or "Unknown"),
                        log=server.get("healthProbeLog") or None,
                    )
                )
    return servers
