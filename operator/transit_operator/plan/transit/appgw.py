"""ServerlessTransit option `applicationGateway`: App Gateway v2 as an L4 TCP proxy with native Private Link.

    Databricks NCC private endpoint --Private Link--> private link configuration (Dynamic IPs, PL subnet)
      -> private frontend IP (Static, gateway subnet) -> TCP listener :9092 -> routing rule
      -> backend settings (Tcp :9092) -> backend pool: every Approved Confluent endpoint IP

What the plan holds, dependencies first:

1. a Standard, Static **public IP**: App Gateway v2 refuses to exist without a public frontend even when
   only the private one is used (docs/platform-rules.md#appgw-public-frontend,
   https://learn.microsoft.com/azure/application-gateway/application-gateway-private-deployment);
2. an **NSG** for the gateway subnet that locks that public frontend down: GatewayManager on 65200-65535
   (the v2 control plane; without it the gateway does not provision), AzureLoadBalancer, VirtualNetwork on
   the listener ports, and Internet denied
   (https://learn.microsoft.com/azure/application-gateway/configuration-infrastructure#network-security-groups).
   The reconciler associates it with the gateway subnet (one field of a subnet it does not own; not a PUT
   body of its own here, because a subnet PUT must carry the customer's address prefixes);
3. the **Application Gateway** itself, one big PUT body whose sub-resources reference each other by ids
   under the gateway's own id (`.../applicationGateways/<gw>/frontendIPConfigurations/<fe>`).

The L4 collections (`listeners`, `backendSettingsCollection`, `routingRules`, protocol `Tcp`) are separate
from the HTTP-era `httpListeners`/`backendHttpSettingsCollection`/`requestRoutingRules`. azure-mgmt-network
33.1 (api-version 2026-03-01) carries them natively (`ApplicationGatewayListener`,
`ApplicationGatewayBackendSettings`, `ApplicationGatewayRoutingRule` in `azure/mgmt/network/models/_models.py`),
so no azapi-style raw call is needed: the reconciler hands this REST-shaped body to
`application_gateways.begin_create_or_update`, which the SDK accepts as a plain JSON mapping.

One listener per port sends to one pool with every zone's endpoint IP: TLS passes through untouched, and
Confluent's SNI proxy behind each endpoint routes any broker name, so any endpoint IP serves any broker. The
price is that the gateway picks an endpoint regardless of the broker's zone (no SNI zone affinity, unlike
option haproxy): traffic may cross zones.

The Databricks private endpoint rule targets the gateway's resource id (App Gateway private link has no
alias) with `group_id` = the name of the frontend IP configuration carrying the private link configuration
(docs/platform-rules.md#appgw-private-link): the private one by default, the public one with
`privateLinkFrontend: public` (whether private link on the private frontend carries TCP is unconfirmed; a
field report carried Kafka through private link on the public frontend - docs/platform-rules.md#unconfirmed,
item 6). The TCP listeners sit on that same frontend: a frontend without a listener is not offered as a
private link target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transit_operator.api.v1alpha1 import ConfluentPrivateLink, ServerlessTransit, ServerlessTransitSpec
from transit_operator.plan import ids, naming
from transit_operator.plan.confluent import healthy_endpoint_ips
from transit_operator.plan.ids import APPLICATION_GATEWAYS, PUBLIC_IP_ADDRESSES
from transit_operator.plan.model import AzureResource, Plan
from transit_operator.plan.naming import (
    GATEWAY_IP_CONFIG_NAME,
    GATEWAY_POOL_NAME,
    PRIVATE_FRONTEND_NAME,
    PRIVATE_LINK_CONFIG_NAME,
    PRIVATE_LINK_IP_CONFIG_NAME,
    PUBLIC_FRONTEND_NAME,
    frontend_port_name,
    listener_name,
)
from transit_operator.plan.ncc import build_private_endpoint_rule_body, rule_domain_names
from transit_operator.plan.ownership import Owner, owner_of_object, owner_tags
from transit_operator.plan.transit.common import (
    build_nsg,
    build_security_rule,
    build_transit_plan,
    endpoint_waiting,
)

__all__ = [
    "GatewayIds",
    "backend_ips_of",
    "build_appgw_nsg",
    "build_appgw_rule_body",
    "build_appgw_transit_plan",
    "build_application_gateway",
    "build_backend_pool",
    "build_public_ip",
    "private_link_frontend_name",
]

FIRST_RULE_PRIORITY = 100

# Backend connection timeout of the L4 backend settings (seconds, 1-86400). Idle Kafka connections are
# bounded by the Private Link hop (~300 s) anyway; clients need keepalives below that
# (docs/platform-rules.md#idle-timeouts).
BACKEND_TIMEOUT_SECONDS = 60

# NSG rule priorities: GatewayManager first, Internet denied last among ours (Azure's defaults are 65000+).
_NSG_PRIORITY_GATEWAY_MANAGER = 100
_NSG_PRIORITY_LOAD_BALANCER = 110
_NSG_PRIORITY_LISTENERS = 120
_NSG_PRIORITY_DENY_INTERNET = 4000


@dataclass(frozen=True)
class GatewayIds:
    """ARM ids of one applicationGateway transit's objects, from the deterministic names."""

    gateway: str
    public_ip: str
    nsg: str

    @classmethod
    def of(cls, spec: ServerlessTransitSpec, owner: Owner) -> GatewayIds:
        sub, rg, ns, name = spec.azure.subscription_id, spec.azure.resource_group, owner.namespace, owner.name
        return cls(
            gateway=ids.resource_id(sub, rg, APPLICATION_GATEWAYS, naming.build_application_gateway_name(ns, name)),
            public_ip=ids.resource_id(sub, rg, PUBLIC_IP_ADDRESSES, naming.build_public_ip_name(ns, name)),
            nsg=ids.resource_id(sub, rg, ids.NETWORK_SECURITY_GROUPS, naming.build_nsg_name(ns, name)),
        )


def backend_ips_of(cpl: ConfluentPrivateLink | None) -> list[str]:
    """The Confluent endpoint IPs to forward to: Approved zones with a known IP, by zone, without repeats."""
    if cpl is None:
        return []
    by_zone = healthy_endpoint_ips(cpl.status)
    return list(dict.fromkeys(by_zone[zone] for zone in sorted(by_zone)))


def build_public_ip(spec: ServerlessTransitSpec, *, owner: Owner) -> AzureResource:
    """Standard SKU, Static: the only kind App Gateway v2 accepts for its (mandatory) public frontend."""
    return AzureResource(
        type=PUBLIC_IP_ADDRESSES,
        id=GatewayIds.of(spec, owner).public_ip,
        apiVersion=ids.api_version_for(PUBLIC_IP_ADDRESSES),
        body={
            "location": spec.azure.location,
            "tags": owner_tags(owner),
            "sku": {"name": "Standard", "tier": "Regional"},
            "properties": {"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4"},
        },
        dependsOn=[],
    )


def build_appgw_nsg(spec: ServerlessTransitSpec, *, owner: Owner) -> AzureResource:
    """The gateway subnet's NSG: control plane and probes in, Kafka from the VNet only, Internet out."""
    listener_ports = [str(port) for port in sorted(spec.ports)]
    rules = [
        build_security_rule(
            "allow-gateway-manager",
            _NSG_PRIORITY_GATEWAY_MANAGER,
            "Allow",
            protocol="Tcp",
            source="GatewayManager",
            ports=["65200-65535"],
            description="App Gateway v2 infrastructure ports; required for the gateway to provision",
        ),
        build_security_rule(
            "allow-azure-load-balancer",
            _NSG_PRIORITY_LOAD_BALANCER,
            "Allow",
            protocol="*",
            source="AzureLoadBalancer",
            ports=["*"],
            description="Azure health probes",
        ),
        build_security_rule(
            "allow-vnet-listeners",
            _NSG_PRIORITY_LISTENERS,
            "Allow",
            protocol="Tcp",
            source="VirtualNetwork",
            ports=listener_ports,
            description="Kafka through the private frontend (private link NAT IPs are in the VNet)",
        ),
        build_security_rule(
            "deny-internet",
            _NSG_PRIORITY_DENY_INTERNET,
            "Deny",
            protocol="*",
            source="Internet",
            ports=["*"],
            description="Nothing from the Internet: the public frontend is mandatory, Kafka comes through private link",
        ),
    ]
    return build_nsg(spec, GatewayIds.of(spec, owner).nsg, rules, owner=owner)


def private_link_frontend_name(spec: ServerlessTransitSpec) -> str:
    """The frontend that carries the private link configuration and the listeners: the NCC rule's group id."""
    settings = spec.application_gateway
    public = settings is not None and settings.private_link_frontend == "public"
    return PUBLIC_FRONTEND_NAME if public else PRIVATE_FRONTEND_NAME


def build_backend_pool(backend_ips: list[str]) -> dict[str, Any]:
    """The one backend pool; an endpoint IP change rewrites only this element of the gateway body."""
    return {
        "name": GATEWAY_POOL_NAME,
        "properties": {"backendAddresses": [{"ipAddress": ip} for ip in backend_ips]},
    }


def build_application_gateway(
    spec: ServerlessTransitSpec, backend_ips: list[str], *, owner: Owner
) -> AzureResource:
    """The whole gateway body: SKU v2 with autoscale, gateway subnet, public + Static private frontends,
    private link configuration (Dynamic IP in the private link subnet) on the `privateLinkFrontend`, one
    TCP listener on that frontend, backend settings and Basic routing rule per port, and the backend pool
    with `backend_ips`."""
    settings = spec.application_gateway
    if settings is None:
        raise ValueError("spec.applicationGateway is required for option applicationGateway")
    gateway_ids = GatewayIds.of(spec, owner)
    gw_id = gateway_ids.gateway
    linked = private_link_frontend_name(spec)

    def sub(collection: str, name: str) -> dict[str, str]:
        return {"id": ids.child_id(gw_id, collection, name)}

    def private_link(frontend: str) -> dict[str, Any]:
        if frontend != linked:
            return {}
        return {"privateLinkConfiguration": sub("privateLinkConfigurations", PRIVATE_LINK_CONFIG_NAME)}

    ports = sorted(spec.ports)
    properties: dict[str, Any] = {
        # Standard_v2 tier == name (v1 SKUs and the Basic tier have no private link configuration).
        "sku": {"name": settings.sku, "tier": settings.sku},
        "autoscaleConfiguration": {
            "minCapacity": settings.min_capacity,
            "maxCapacity": settings.max_capacity,
        },
        "gatewayIPConfigurations": [
            {
                "name": GATEWAY_IP_CONFIG_NAME,
                "properties": {"subnet": {"id": spec.network.frontend_subnet_id}},
            }
        ],
        "frontendIPConfigurations": [
            {
                "name": PUBLIC_FRONTEND_NAME,
                "properties": {
                    "publicIPAddress": {"id": gateway_ids.public_ip},
                    **private_link(PUBLIC_FRONTEND_NAME),
                },
            },
            {
                "name": PRIVATE_FRONTEND_NAME,
                "properties": {
                    # A private frontend must be Static (Azure refuses Dynamic on v2).
                    "privateIPAddress": settings.private_frontend_ip,
                    "privateIPAllocationMethod": "Static",
                    "subnet": {"id": spec.network.frontend_subnet_id},
                    **private_link(PRIVATE_FRONTEND_NAME),
                },
            },
        ],
        "privateLinkConfigurations": [
            {
                "name": PRIVATE_LINK_CONFIG_NAME,
                "properties": {
                    "ipConfigurations": [
                        {
                            "name": PRIVATE_LINK_IP_CONFIG_NAME,
                            "properties": {
                                # Private link IPs: Dynamic only, not in the gateway subnet, at most 8
                                # (https://learn.microsoft.com/azure/application-gateway/private-link).
                                "privateIPAllocationMethod": "Dynamic",
                                "subnet": {"id": spec.network.private_link_subnet_id},
                                "primary": True,
                            },
                        }
                    ]
                },
            }
        ],
        "frontendPorts": [{"name": frontend_port_name(port), "properties": {"port": port}} for port in ports],
        "backendAddressPools": [build_backend_pool(backend_ips)],
        "backendSettingsCollection": [
            {
                "name": listener_name(port),
                "properties": {"port": port, "protocol": "Tcp", "timeout": BACKEND_TIMEOUT_SECONDS},
            }
            for port in ports
        ],
        "listeners": [
            {
                "name": listener_name(port),
                "properties": {
                    "frontendIPConfiguration": sub("frontendIPConfigurations", linked),
                    "frontendPort": sub("frontendPorts", frontend_port_name(port)),
                    "protocol": "Tcp",
                },
            }
            for port in ports
        ],
        "routingRules": [
            {
                "name": listener_name(port),
                "properties": {
                    "ruleType": "Basic",
                    "priority": FIRST_RULE_PRIORITY + index,
                    "listener": sub("listeners", listener_name(port)),
                    "backendAddressPool": sub("backendAddressPools", GATEWAY_POOL_NAME),
                    "backendSettings": sub("backendSettingsCollection", listener_name(port)),
                },
            }
            for index, port in enumerate(ports)
        ],
    }
    if settings.sku == "WAF_v2":
        # A WAF_v2 gateway needs a WAF configuration (or a policy). WAF does not inspect TCP listeners:
        # it is here only because the SKU asks for it (docs/options.md).
        properties["webApplicationFirewallConfiguration"] = {
            "enabled": True,
            "firewallMode": "Prevention",
            "ruleSetType": "OWASP",
            "ruleSetVersion": "3.2",
        }
    return AzureResource(
        type=APPLICATION_GATEWAYS,
        id=gw_id,
        apiVersion=ids.api_version_for(APPLICATION_GATEWAYS),
        body={"location": spec.azure.location, "tags": owner_tags(owner), "properties": properties},
        dependsOn=[gateway_ids.public_ip, gateway_ids.nsg],
    )


def build_appgw_rule_body(
    gateway_id: str, domain_names: list[str], group_id: str = PRIVATE_FRONTEND_NAME
) -> dict[str, Any]:
    """NCC private endpoint rule to the gateway: `group_id` = the private link frontend's name.

    `domain_names` go along: Databricks Serverless sends to the endpoint only the names the rule lists, and
    Kafka needs the bootstrap and broker names to resolve there. Whether Databricks accepts `domain_names`
    next to `group_id` for an App Gateway target is UNCONFIRMED (docs/platform-rules.md#unconfirmed); the
    sandbox accepts it.
    """
    body = build_private_endpoint_rule_body(gateway_id, group_id=group_id)
    if domain_names:
        body["domain_names"] = list(domain_names)
    return body


def build_appgw_transit_plan(
    sxt: ServerlessTransit, *, cpl: ConfluentPrivateLink | None, uid: str | None
) -> Plan:
    """Everything a ServerlessTransit with `option: applicationGateway` wants.

    `cpl` is the referenced ConfluentPrivateLink (its status gives the endpoint IPs, its spec the domain
    names). Without it the gateway's backend pool is empty and the NCC rule is left out; `waiting` says so.
    """
    spec = sxt.spec
    if spec.option != "applicationGateway" or spec.application_gateway is None:
        raise ValueError(f"option is {spec.option!r}, not 'applicationGateway'")
    owner = owner_of_object(sxt, uid=uid)
    gateway = build_application_gateway(spec, backend_ips_of(cpl), owner=owner)
    rule = None
    if cpl is not None:
        domain_names = rule_domain_names(cpl.spec.confluent, spec.databricks)
        rule = build_appgw_rule_body(gateway.id, domain_names, private_link_frontend_name(spec))
    waiting = endpoint_waiting(
        sxt,
        owner,
        cpl,
        needs="the backend pool",
        empty="the backend pool is empty (every Kafka connection is refused)",
        leaves_out="the backend pool leaves out zones",
    )
    azure = [build_public_ip(spec, owner=owner), build_appgw_nsg(spec, owner=owner), gateway]
    return build_transit_plan(sxt, owner, azure=azure, rule=rule, files={}, waiting=waiting)
