"""ServerlessTransit option `haproxy`: NSG, Standard Load Balancer, Private Link Service, VMSS running HAProxy.

    Databricks NCC private endpoint --Private Link--> PLS (NAT IPs in the private link subnet)
      -> internal Standard LB frontend (frontend subnet) -> NIC-based backend pool = the VMSS instances
      -> HAProxy (SNI -> zone) -> Confluent private endpoint IPs (from the ConfluentPrivateLink's status)

Platform rules this follows (transit.md): a PLS needs a Standard LB with a NIC-based pool, never private
endpoint IPs (rules 1, 2); PLS NAT IPs come from a subnet with `privateLinkServiceNetworkPolicies:
Disabled` (rule 3, the user's subnet); LB idle timeout 30 minutes with TCP reset, Kafka idles longer than
the 4-minute default (rule 12); the probe comes from 168.63.129.16 (`AzureLoadBalancer` in the NSG).

The HAProxy configuration reaches instances two ways (rule 11): the VMSS model's customData (cloud-init,
for new and reimaged instances) and run-command with `apply-haproxy.sh` (live instances). Both come from
`plan.haproxy_config`, so they cannot disagree.
"""

from __future__ import annotations

import base64
from typing import Any

from transit_operator.api.errors import InvalidSpec
from transit_operator.api.v1alpha1 import (
    ConfluentPrivateLink,
    HAProxySpec,
    ServerlessTransit,
    ServerlessTransitSpec,
)
from transit_operator.plan import ids, naming
from transit_operator.plan.confluent import healthy_endpoint_ips, owner_of_object
from transit_operator.plan.haproxy_config import (
    HEALTH_URI,
    ZoneBackend,
    render_apply_script,
    render_backend_health_script,
    render_cloud_init,
    render_haproxy_config,
)
from transit_operator.plan.model import AzureResource, Plan
from transit_operator.plan.ncc import build_private_endpoint_rule_body, rule_domain_names
from transit_operator.plan.ownership import Owner, build_ownership_tags
from transit_operator.plan.transit import KIND, build_security_rule, build_transit_plan, endpoint_waiting

__all__ = [
    "APPLY_SCRIPT_FILE",
    "BACKEND_HEALTH_FILE",
    "CLOUD_INIT_FILE",
    "HAPROXY_CFG_FILE",
    "KIND",
    "TransitIds",
    "build_haproxy_files",
    "build_haproxy_transit_plan",
    "build_load_balancer",
    "build_nsg",
    "build_private_link_service",
    "build_vmss",
    "health_port_for",
    "transit_ids",
]

HAPROXY_CFG_FILE = "haproxy.cfg"
CLOUD_INIT_FILE = "cloud-init.yaml"
APPLY_SCRIPT_FILE = "apply-haproxy.sh"
# Read-only, for a run command on any instance (issue 19): HAProxy's view of each Confluent endpoint.
BACKEND_HEALTH_FILE = "backend-health.sh"

_DEFAULT_HEALTH_PORT = 8404
# Kafka clients idle longer than the LB's 4-minute default; 30 is the documented maximum (azure-api.md §4).
_LB_IDLE_TIMEOUT_MINUTES = 30
_PROBE_INTERVAL_SECONDS = 5
_PROBE_THRESHOLD = 2
# customData is limited to 65535 bytes once decoded (VirtualMachineScaleSetOSProfile.customData).
_MAX_CUSTOM_DATA = 65535


def health_port_for(ports: list[int]) -> int:
    """HAProxy's `/healthz` port: 8404, or the next free one when a Kafka (or the status) port takes it."""
    port = _DEFAULT_HEALTH_PORT
    while port in ports:
        port += 1
    return port


def _status_port(spec: ServerlessTransitSpec) -> int | None:
    status = spec.haproxy.status_endpoint if spec.haproxy is not None else None
    return status.port if status is not None else None


def _health_port(spec: ServerlessTransitSpec) -> int:
    status = _status_port(spec)
    return health_port_for(sorted(spec.ports) + ([status] if status is not None else []))


class TransitIds:
    """ARM ids of one transit's objects (and the LB's children), from the deterministic names."""

    def __init__(self, spec: ServerlessTransitSpec, owner: Owner) -> None:
        sub, rg = spec.azure.subscription_id, spec.azure.resource_group
        ns, name = owner.namespace, owner.name
        self.nsg = ids.resource_id(sub, rg, ids.NETWORK_SECURITY_GROUPS, naming.build_nsg_name(ns, name))
        self.load_balancer = ids.resource_id(
            sub, rg, ids.LOAD_BALANCERS, naming.build_load_balancer_name(ns, name)
        )
        self.private_link_service = ids.resource_id(
            sub, rg, ids.PRIVATE_LINK_SERVICES, naming.build_private_link_service_name(ns, name)
        )
        self.vmss = ids.resource_id(sub, rg, ids.VIRTUAL_MACHINE_SCALE_SETS, naming.build_vmss_name(ns, name))
        self.frontend = ids.child_id(
            self.load_balancer, "frontendIPConfigurations", naming.FRONTEND_IP_CONFIG_NAME
        )
        self.backend_pool = ids.child_id(self.load_balancer, "backendAddressPools", naming.BACKEND_POOL_NAME)
        self.probe = ids.child_id(self.load_balancer, "probes", naming.HEALTH_PROBE_NAME)
        self.status_probe = ids.child_id(self.load_balancer, "probes", naming.STATUS_PROBE_NAME)

    def rule(self, port: int) -> str:
        return ids.child_id(self.load_balancer, "loadBalancingRules", naming.lb_rule_name(port))


def transit_ids(spec: ServerlessTransitSpec, owner: Owner) -> TransitIds:
    return TransitIds(spec, owner)


def _tags(owner: Owner) -> dict[str, str]:
    return build_ownership_tags(owner.kind, owner.namespace, owner.name, owner.uid)


def _haproxy(spec: ServerlessTransitSpec) -> HAProxySpec:
    if spec.haproxy is None:
        raise ValueError("spec.haproxy is required when option is 'haproxy'")
    return spec.haproxy


def build_nsg(spec: ServerlessTransitSpec, *, owner: Owner) -> AzureResource:
    """NSG on the instances' NICs: LB probes to the health port (and the status port), the VNet (PLS NAT
    IPs) to the Kafka ports (and the status port), nothing from the Internet. Outbound stays at Azure's defaults (the instances install packages and
    report run-command results over 443)."""
    ports = sorted(spec.ports)
    health = _health_port(spec)
    status = _status_port(spec)

    rules = [
        build_security_rule(
            "allow-lb-probe", 100, "Allow", protocol="Tcp", source="AzureLoadBalancer",
            ports=[str(health)] + ([str(status)] if status is not None else []),
        ),
        build_security_rule(
            "allow-vnet-kafka", 110, "Allow", protocol="Tcp", source="VirtualNetwork", ports=[str(p) for p in ports]
        ),
    ]
    if status is not None:  # the status endpoint, from the PLS NAT IPs like Kafka
        rules.append(build_security_rule(
            "allow-vnet-status", 120, "Allow", protocol="Tcp", source="VirtualNetwork", ports=[str(status)]
        ))
    rules.append(build_security_rule(
        "deny-internet-inbound", 4000, "Deny", protocol="*", source="Internet", ports=["0-65535"]
    ))
    return AzureResource(
        type=ids.NETWORK_SECURITY_GROUPS,
        id=transit_ids(spec, owner).nsg,
        apiVersion=ids.api_version_for(ids.NETWORK_SECURITY_GROUPS),
        body={"location": spec.azure.location, "tags": _tags(owner), "properties": {"securityRules": rules}},
        dependsOn=[],
    )


def build_load_balancer(spec: ServerlessTransitSpec, *, owner: Owner) -> AzureResource:
    """Internal Standard LB: one frontend (Dynamic IP), a NIC-based pool (no addresses: the VMSS NICs join it
    by reference), an HTTP probe on HAProxy's `/healthz`, one TCP rule per port; with a status endpoint
    (`spec.haproxy.statusEndpoint`) one more rule for its port, with a TCP probe of its own."""
    tid = transit_ids(spec, owner)
    ports = sorted(spec.ports)

    def rule(name: str, port: int, probe: str) -> dict[str, Any]:
        return {
            "name": name,
            "properties": {
                "frontendIPConfiguration": {"id": tid.frontend},
                "backendAddressPool": {"id": tid.backend_pool},
                "probe": {"id": probe},
                "protocol": "Tcp",
                "frontendPort": port,
                "backendPort": port,
                "idleTimeoutInMinutes": _LB_IDLE_TIMEOUT_MINUTES,
                "enableTcpReset": True,
                "enableFloatingIP": False,
                "disableOutboundSnat": True,
                "loadDistribution": "Default",
            },
        }

    rules = [rule(naming.lb_rule_name(port), port, tid.probe) for port in ports]
    probes: list[dict[str, Any]] = [
        {
            "name": naming.HEALTH_PROBE_NAME,
            "properties": {
                # HTTP, not TCP: HAProxy answers 503 on /healthz when no endpoint is healthy, so
                # an instance that cannot reach Confluent leaves the pool.
                "protocol": "Http",
                "port": _health_port(spec),
                "requestPath": HEALTH_URI,
                "intervalInSeconds": _PROBE_INTERVAL_SECONDS,
                "probeThreshold": _PROBE_THRESHOLD,
            },
        }
    ]
    status = _status_port(spec)
    if status is not None:
        # The status endpoint must answer precisely when every endpoint is down (the Kafka rules' probe
        # then takes every instance out): its rule has a TCP probe of its own, on its own port.
        rules.append(rule(naming.STATUS_RULE_NAME, status, tid.status_probe))
        probes.append({
            "name": naming.STATUS_PROBE_NAME,
            "properties": {
                "protocol": "Tcp",
                "port": status,
                "intervalInSeconds": _PROBE_INTERVAL_SECONDS,
                "probeThreshold": _PROBE_THRESHOLD,
            },
        })
    body = {
        "location": spec.azure.location,
        "tags": _tags(owner),
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
            "backendAddressPools": [{"name": naming.BACKEND_POOL_NAME}],
            "probes": probes,
            "loadBalancingRules": rules,
        },
    }
    return AzureResource(
        type=ids.LOAD_BALANCERS,
        id=tid.load_balancer,
        apiVersion=ids.api_version_for(ids.LOAD_BALANCERS),
        body=body,
        dependsOn=[],
    )


def build_private_link_service(spec: ServerlessTransitSpec, *, owner: Owner) -> AzureResource:
    """PLS on the LB frontend, one Dynamic NAT IP in the private link subnet, manual approval only.

    Visibility: `["*"]` ("anyone with the alias or id") when `privateLinkVisibility` is empty, because
    Databricks creates its endpoint from a Databricks-owned subscription we cannot list; without a
    visibility entry only callers with RBAC on the PLS could see it. No `autoApproval`: the operator
    approves exactly the connection of its own NCC rule (transit.md rule 7).
    """
    tid = transit_ids(spec, owner)
    visibility = list(_haproxy(spec).private_link_visibility) or ["*"]
    body = {
        "location": spec.azure.location,
        "tags": _tags(owner),
        "properties": {
            "loadBalancerFrontendIpConfigurations": [{"id": tid.frontend}],
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
            "visibility": {"subscriptions": visibility},
            "enableProxyProtocol": False,
        },
    }
    return AzureResource(
        type=ids.PRIVATE_LINK_SERVICES,
        id=tid.private_link_service,
        apiVersion=ids.api_version_for(ids.PRIVATE_LINK_SERVICES),
        body=body,
        dependsOn=[tid.load_balancer],
    )


def build_vmss(spec: ServerlessTransitSpec, *, owner: Owner, cloud_init: str | None) -> AzureResource:
    """Uniform VMSS of HAProxy instances in the LB pool. `cloud_init` None: no customData yet (the
    Confluent side is unknown); the plan says so in `waiting`."""
    haproxy = _haproxy(spec)
    tid = transit_ids(spec, owner)
    os_profile: dict[str, Any] = {
        "computerNamePrefix": naming.build_computer_name_prefix(owner.namespace, owner.name),
        "adminUsername": haproxy.admin_username,
        "linuxConfiguration": {
            "disablePasswordAuthentication": True,
            "ssh": {
                "publicKeys": [
                    {
                        "path": f"/home/{haproxy.admin_username}/.ssh/authorized_keys",
                        "keyData": haproxy.ssh_public_key,
                    }
                ]
            },
        },
    }
    if cloud_init is not None:
        custom_data = base64.b64encode(cloud_init.encode("utf-8")).decode("ascii")
        if len(cloud_init.encode("utf-8")) > _MAX_CUSTOM_DATA:
            raise InvalidSpec(
                f"cloud-init is {len(cloud_init)} bytes; VMSS customData takes at most {_MAX_CUSTOM_DATA}"
                " (fewer ports or zones)",
                field="spec.haproxy",
            )
        os_profile["customData"] = custom_data
    body = {
        "location": spec.azure.location,
        "tags": _tags(owner),
        "zones": list(haproxy.zones),
        "sku": {"name": haproxy.vm_size, "tier": "Standard", "capacity": haproxy.instance_count},
        "properties": {
            "orchestrationMode": "Uniform",
            # Manual: the operator pushes haproxy.cfg to live instances with run-command (one instance at a
            # time, verified, rolled back on failure); a model change (new customData) must not reimage
            # or restart serving instances behind our back. customData serves new/reimaged instances only.
            "upgradePolicy": {"mode": "Manual"},
            # No extra instances that briefly join the LB pool and miss the run-command fan-out.
            "overprovision": False,
            "virtualMachineProfile": {
                "osProfile": os_profile,
                "storageProfile": {
                    "imageReference": {
                        "publisher": haproxy.image.publisher,
                        "offer": haproxy.image.offer,
                        "sku": haproxy.image.sku,
                        "version": haproxy.image.version,
                    },
                    "osDisk": {
                        "createOption": "FromImage",
                        "caching": "ReadWrite",
                        # Standard SSD works with every VM size (Premium needs an `s` size).
                        "managedDisk": {"storageAccountType": "StandardSSD_LRS"},
                    },
                },
                "networkProfile": {
                    "networkInterfaceConfigurations": [
                        {
                            "name": naming.NIC_CONFIG_NAME,
                            "properties": {
                                "primary": True,
                                "networkSecurityGroup": {"id": tid.nsg},
                                "ipConfigurations": [
                                    {
                                        "name": naming.IP_CONFIG_NAME,
                                        "properties": {
                                            "primary": True,
                                            "privateIPAddressVersion": "IPv4",
                                            "subnet": {"id": spec.network.frontend_subnet_id},
                                            "loadBalancerBackendAddressPools": [{"id": tid.backend_pool}],
                                        },
                                    }
                                ],
                            },
                        }
                    ]
                },
            },
        },
    }
    return AzureResource(
        type=ids.VIRTUAL_MACHINE_SCALE_SETS,
        id=tid.vmss,
        apiVersion=ids.api_version_for(ids.VIRTUAL_MACHINE_SCALE_SETS),
        body=body,
        dependsOn=[tid.nsg, tid.load_balancer],
    )


def build_haproxy_files(spec: ServerlessTransitSpec, cpl: ConfluentPrivateLink) -> dict[str, str]:
    """`haproxy.cfg`, `cloud-init.yaml`, `apply-haproxy.sh` for the endpoints known in `cpl.status`, and the
    read-only `backend-health.sh`.

    Zones without an Approved endpoint IP get no servers (see `plan.haproxy_config`).
    """
    ips = healthy_endpoint_ips(cpl.status)
    zones = [ZoneBackend(zone.name, ips.get(zone.name)) for zone in cpl.spec.confluent.zones]
    config = render_haproxy_config(
        domain=cpl.spec.confluent.dns_domain,
        bootstrap_host=cpl.spec.confluent.bootstrap_host,
        zones=zones,
        ports=list(spec.ports),
        health_port=_health_port(spec),
        status_port=_status_port(spec),
    )
    script = render_apply_script()
    return {
        HAPROXY_CFG_FILE: config,
        CLOUD_INIT_FILE: render_cloud_init(config=config, apply_script=script),
        APPLY_SCRIPT_FILE: "\n".join(script) + "\n",
        BACKEND_HEALTH_FILE: "\n".join(render_backend_health_script()) + "\n",
    }


def build_haproxy_transit_plan(
    sxt: ServerlessTransit, *, cpl: ConfluentPrivateLink | None, uid: str | None
) -> Plan:
    """Everything a `haproxy` ServerlessTransit wants.

    `cpl` is the referenced ConfluentPrivateLink (its spec gives the domain and zones, its status the
    endpoint IPs). Without it the ARM bodies are still complete except the VMSS customData, and the NCC
    rule (whose domain names come from the Confluent network) is left out; `waiting` says so.
    """
    owner = owner_of_object(sxt, uid=uid)
    spec = sxt.spec
    if spec.option != "haproxy":
        raise ValueError(f"option is {spec.option!r}, not 'haproxy'")
    tid = transit_ids(spec, owner)
    files: dict[str, str] = {}
    cloud_init: str | None = None
    rule: dict[str, Any] | None = None
    if cpl is not None:
        files = build_haproxy_files(spec, cpl)
        cloud_init = files[CLOUD_INIT_FILE]
        domains = rule_domain_names(cpl.spec.confluent, spec.databricks, status_name=spec.status_domain_name)
        rule = build_private_endpoint_rule_body(tid.private_link_service, domain_names=domains)
    azure = [
        build_nsg(spec, owner=owner),
        build_load_balancer(spec, owner=owner),
        build_private_link_service(spec, owner=owner),
        build_vmss(spec, owner=owner, cloud_init=cloud_init),
    ]
    waiting = endpoint_waiting(
        sxt,
        owner,
        cpl,
        needs="haproxy.cfg, the VMSS customData",
        empty="haproxy.cfg has no servers yet (every Kafka connection is refused)",
        leaves_out="haproxy.cfg leaves out zones",
    )
    return build_transit_plan(sxt, owner, azure=azure, rule=rule, files=files, waiting=waiting)
