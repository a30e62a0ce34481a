"""Standard Load Balancer + Private Link Service: the private link front door of an option whose proxy runs
on instances (option haproxy; any option with a VM or VMSS proxy reuses it).

    Databricks NCC private endpoint --Private Link--> PLS (NAT IPs in the private link subnet)
      -> internal Standard LB frontend (frontend subnet) -> NIC-based backend pool (the instances join it
         by reference) -> the proxy on each instance

Platform rules this follows (docs/platform-rules.md): a PLS needs a Standard LB with a NIC-based pool, never
private endpoint IPs (#lb-backends, #pls-needs-nic-pool); PLS NAT IPs come from a subnet with
`privateLinkServiceNetworkPolicies: Disabled` (#pls-subnet, the user's subnet); LB idle timeout 30 minutes
with TCP reset, because Kafka idles longer than the 4-minute default (#idle-timeouts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from transit_operator.api.v1alpha1 import ServerlessTransitSpec
from transit_operator.plan import ids, naming
from transit_operator.plan.model import AzureResource
from transit_operator.plan.ownership import Owner, owner_tags

__all__ = ["ExtraRule", "HealthProbe", "LbPlsIds", "build_load_balancer", "build_private_link_service"]

# Kafka clients idle longer than the LB's 4-minute default; 30 is the documented maximum
# (learn.microsoft.com/azure/load-balancer/load-balancer-tcp-idle-timeout).
LB_IDLE_TIMEOUT_MINUTES = 30
PROBE_INTERVAL_SECONDS = 5
PROBE_THRESHOLD = 2


@dataclass(frozen=True)
class HealthProbe:
    """An LB probe. The Kafka rules' probe is an HTTP GET (`path`) that answers 2xx only when the proxy can
    forward (so an instance that cannot reach Confluent leaves the pool, which a TCP probe would not
    notice); `path` None is a TCP probe."""

    name: str
    port: int
    path: str | None


@dataclass(frozen=True)
class ExtraRule:
    """One more LB rule beside the Kafka ports' (a status endpoint, say), with a probe of its own."""

    name: str
    port: int
    probe: HealthProbe


@dataclass(frozen=True)
class LbPlsIds:
    """ARM ids of one transit's LB (and its children) and PLS, from the deterministic names."""

    load_balancer: str
    private_link_service: str
    frontend: str
    backend_pool: str
    probe: str

    @classmethod
    def of(cls, spec: ServerlessTransitSpec, owner: Owner, *, pool: str, probe: str) -> LbPlsIds:
        sub, rg = spec.azure.subscription_id, spec.azure.resource_group
        ns, name = owner.namespace, owner.name
        lb = ids.resource_id(sub, rg, ids.LOAD_BALANCERS, naming.build_load_balancer_name(ns, name))
        return cls(
            load_balancer=lb,
            private_link_service=ids.resource_id(
                sub, rg, ids.PRIVATE_LINK_SERVICES, naming.build_private_link_service_name(ns, name)
            ),
            frontend=ids.child_id(lb, "frontendIPConfigurations", naming.FRONTEND_IP_CONFIG_NAME),
            backend_pool=ids.child_id(lb, "backendAddressPools", pool),
            probe=ids.child_id(lb, "probes", probe),
        )

    def rule(self, port: int) -> str:
        return ids.child_id(self.load_balancer, "loadBalancingRules", naming.lb_rule_name(port))


def _probe(probe: HealthProbe) -> dict[str, Any]:
    properties: dict[str, Any] = {"protocol": "Http" if probe.path else "Tcp", "port": probe.port}
    if probe.path:
        properties["requestPath"] = probe.path
    properties |= {"intervalInSeconds": PROBE_INTERVAL_SECONDS, "probeThreshold": PROBE_THRESHOLD}
    return {"name": probe.name, "properties": properties}


def build_load_balancer(
    spec: ServerlessTransitSpec,
    lb: LbPlsIds,
    probe: HealthProbe,
    *,
    owner: Owner,
    extra_rules: Sequence[ExtraRule] = (),
) -> AzureResource:
    """Internal Standard LB: one frontend (Dynamic IP), a NIC-based pool (no addresses: the instances' NICs
    join it by reference), one TCP rule per Kafka port behind `probe`, and each of `extra_rules` behind its
    own probe."""
    kafka = [(naming.lb_rule_name(port), port, lb.probe) for port in sorted(spec.ports)]
    extra = [(rule.name, rule.port, ids.child_id(lb.load_balancer, "probes", rule.probe.name)) for rule in extra_rules]
    rules = [
        {
            "name": name,
            "properties": {
                "frontendIPConfiguration": {"id": lb.frontend},
                "backendAddressPool": {"id": lb.backend_pool},
                "probe": {"id": probe_id},
                "protocol": "Tcp",
                "frontendPort": port,
                "backendPort": port,
                "idleTimeoutInMinutes": LB_IDLE_TIMEOUT_MINUTES,
                "enableTcpReset": True,
                "enableFloatingIP": False,
                "disableOutboundSnat": True,
                "loadDistribution": "Default",
            },
        }
        for name, port, probe_id in [*kafka, *extra]
    ]
    body = {
        "location": spec.azure.location,
        "tags": owner_tags(owner),
        "sku": {"name": "Standard", "tier": "Regional"},
        "properties": {
            "frontendIPConfigurations": [
                {
                    "name": naming.FRONTEND_IP_CONFIG_NAME,
                    "properties": {
                        "subnet": {"id": spec.network.frontend_subnet_id},
                        "privateIPAllocationMethod": "Dynamic",
                        "privateIPAddressVersion": "IPv4",
                    },
                }
            ],
            "backendAddressPools": [{"name": lb.backend_pool.rsplit("/", 1)[-1]}],
            "probes": [_probe(probe), *(_probe(rule.probe) for rule in extra_rules)],
            "loadBalancingRules": rules,
        },
    }
    return AzureResource(
        type=ids.LOAD_BALANCERS,
        id=lb.load_balancer,
        apiVersion=ids.api_version_for(ids.LOAD_BALANCERS),
        body=body,
        dependsOn=[],
    )


def build_private_link_service(
    spec: ServerlessTransitSpec, lb: LbPlsIds, *, visibility: list[str], owner: Owner
) -> AzureResource:
    """PLS on the LB frontend, one Dynamic NAT IP in the private link subnet, manual approval only.

    Visibility: `["*"]` ("anyone with the alias or id") when `visibility` is empty, because Databricks
    creates its endpoint from a Databricks-owned subscription we cannot list; without a visibility entry
    only callers with RBAC on the PLS could see it. No `autoApproval`: the operator approves exactly the
    connection of its own NCC rule (docs/platform-rules.md#approval).
    """
    body: dict[str, Any] = {
        "location": spec.azure.location,
        "tags": owner_tags(owner),
        "properties": {
            "loadBalancerFrontendIpConfigurations": [{"id": lb.frontend}],
            "ipConfigurations": [
                {
                    "name": naming.PLS_NAT_IP_CONFIG_NAME,
                    "properties": {
                        "subnet": {"id": spec.network.private_link_subnet_id},
                        "privateIPAllocationMethod": "Dynamic",
                        "privateIPAddressVersion": "IPv4",
                        "primary": True,
                    },
                }
            ],
            "visibility": {"subscriptions": list(visibility) or ["*"]},
            "enableProxyProtocol": False,
        },
    }
    return AzureResource(
        type=ids.PRIVATE_LINK_SERVICES,
        id=lb.private_link_service,
        apiVersion=ids.api_version_for(ids.PRIVATE_LINK_SERVICES),
        body=body,
        dependsOn=[lb.load_balancer],
    )
