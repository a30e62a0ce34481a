"""ServerlessTransit option `haproxy`: an LB + PLS front door (`lb_pls`), a VMSS (`vmss`) running HAProxy,
and the NSG on the instances' NICs.

    Databricks NCC private endpoint --Private Link--> PLS -> internal Standard LB -> VMSS instances
      -> HAProxy (SNI -> zone) -> Confluent private endpoint IPs (from the ConfluentPrivateLink's status)

What is HAProxy's here: the NSG (the LB probe reaches HAProxy's health port), the probe (`GET /healthz`,
which HAProxy answers 503 when no endpoint is healthy), the LB pool and probe names, and the files
(`plan.haproxy_config`): `haproxy.cfg`, and the cloud-init and apply script that carry it to new and live
instances, so the two ways cannot disagree (docs/platform-rules.md#run-command).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transit_operator.api.v1alpha1 import (
    ConfluentPrivateLink,
    HAProxySpec,
    ServerlessTransit,
    ServerlessTransitSpec,
)
from transit_operator.plan import ids, naming
from transit_operator.plan.confluent import healthy_endpoint_ips
from transit_operator.plan.haproxy_config import (
    DEFAULT_HEALTH_PORT,
    HEALTH_URI,
    ZoneBackend,
    render_apply_script,
    render_backend_health_script,
    render_cloud_init,
    render_haproxy_config,
)
from transit_operator.plan.model import AzureResource, Plan
from transit_operator.plan.ncc import build_private_endpoint_rule_body, rule_domain_names
from transit_operator.plan.ownership import Owner, owner_of_object
from transit_operator.plan.transit.common import (
    build_nsg,
    build_security_rule,
    build_transit_plan,
    endpoint_waiting,
)
from transit_operator.plan.transit.lb_pls import (
    ExtraRule,
    HealthProbe,
    LbPlsIds,
    build_load_balancer,
    build_private_link_service,
)
from transit_operator.plan.transit.vmss import build_vmss, scale_set_id

__all__ = [
    "APPLY_SCRIPT_FILE",
    "BACKEND_HEALTH_FILE",
    "CLOUD_INIT_FILE",
    "HAPROXY_CFG_FILE",
    "HAProxyIds",
    "build_haproxy_files",
    "build_haproxy_load_balancer",
    "build_haproxy_nsg",
    "build_haproxy_transit_plan",
    "health_port_for",
]

HAPROXY_CFG_FILE = "haproxy.cfg"
CLOUD_INIT_FILE = "cloud-init.yaml"
APPLY_SCRIPT_FILE = "apply-haproxy.sh"
# Read-only, for a run command on any instance (issue 19): HAProxy's view of each Confluent endpoint.
BACKEND_HEALTH_FILE = "backend-health.sh"

# NSG rule priorities (Azure's own defaults start at 65000): the probe and Kafka first, Internet denied last.
_NSG_PRIORITY_PROBE = 100
_NSG_PRIORITY_KAFKA = 110
_NSG_PRIORITY_STATUS = 120
_NSG_PRIORITY_DENY_INTERNET = 4000


def health_port_for(ports: list[int]) -> int:
    """HAProxy's `/healthz` port: `DEFAULT_HEALTH_PORT`, or the next free one when a Kafka (or the status)
    port takes it."""
    port = DEFAULT_HEALTH_PORT
    while port in ports:
        port += 1
    return port


def _status_port(spec: ServerlessTransitSpec) -> int | None:
    status = spec.haproxy.status_endpoint if spec.haproxy is not None else None
    return status.port if status is not None else None


def _health_port(spec: ServerlessTransitSpec) -> int:
    status = _status_port(spec)
    return health_port_for(sorted(spec.ports) + ([status] if status is not None else []))


@dataclass(frozen=True)
class HAProxyIds:
    """ARM ids of one haproxy transit's objects."""

    nsg: str
    vmss: str
    lb: LbPlsIds

    @classmethod
    def of(cls, spec: ServerlessTransitSpec, owner: Owner) -> HAProxyIds:
        nsg = ids.resource_id(
            spec.azure.subscription_id,
            spec.azure.resource_group,
            ids.NETWORK_SECURITY_GROUPS,
            naming.build_nsg_name(owner.namespace, owner.name),
        )
        lb = LbPlsIds.of(spec, owner, pool=naming.HAPROXY_POOL_NAME, probe=naming.HAPROXY_PROBE_NAME)
        return cls(nsg=nsg, vmss=scale_set_id(spec, owner), lb=lb)

    @property
    def load_balancer(self) -> str:
        return self.lb.load_balancer

    @property
    def private_link_service(self) -> str:
        return self.lb.private_link_service


def _haproxy(spec: ServerlessTransitSpec) -> HAProxySpec:
    if spec.haproxy is None:
        raise ValueError("spec.haproxy is required when option is 'haproxy'")
    return spec.haproxy


def build_haproxy_nsg(spec: ServerlessTransitSpec, *, owner: Owner) -> AzureResource:
    """NSG on the instances' NICs: LB probes to the health port (and the status port), the VNet (PLS NAT
    IPs) to the Kafka ports (and the status port), nothing from the Internet. Outbound stays at Azure's
    defaults (the instances install packages and report run-command results over 443)."""
    ports = sorted(spec.ports)
    health = _health_port(spec)
    status = _status_port(spec)
    rules = [
        build_security_rule(
            "allow-lb-probe", _NSG_PRIORITY_PROBE, "Allow", protocol="Tcp", source="AzureLoadBalancer",
            ports=[str(health)] + ([str(status)] if status is not None else []),
        ),
        build_security_rule(
            "allow-vnet-kafka", _NSG_PRIORITY_KAFKA, "Allow", protocol="Tcp", source="VirtualNetwork",
            ports=[str(p) for p in ports],
        ),
    ]
    if status is not None:  # the status endpoint, from the PLS NAT IPs like Kafka
        rules.append(build_security_rule(
            "allow-vnet-status", _NSG_PRIORITY_STATUS, "Allow", protocol="Tcp", source="VirtualNetwork",
            ports=[str(status)],
        ))
    rules.append(build_security_rule(
        "deny-internet-inbound", _NSG_PRIORITY_DENY_INTERNET, "Deny", protocol="*", source="Internet",
        ports=["0-65535"],
    ))
    return build_nsg(spec, HAProxyIds.of(spec, owner).nsg, rules, owner=owner)


def build_haproxy_load_balancer(spec: ServerlessTransitSpec, *, owner: Owner) -> AzureResource:
    """The LB in front of the instances, probing HAProxy's `/healthz` (HTTP: HAProxy answers 503 there when
    no endpoint is healthy); with a status endpoint (`spec.haproxy.statusEndpoint`) one more rule for its
    port, with a TCP probe of its own: the status endpoint must answer precisely when every endpoint is
    down (the Kafka rules' probe then takes every instance out)."""
    probe = HealthProbe(naming.HAPROXY_PROBE_NAME, _health_port(spec), HEALTH_URI)
    status = _status_port(spec)
    extra = (
        [ExtraRule(naming.STATUS_RULE_NAME, status, HealthProbe(naming.STATUS_PROBE_NAME, status, None))]
        if status is not None
        else []
    )
    return build_load_balancer(spec, HAProxyIds.of(spec, owner).lb, probe, owner=owner, extra_rules=extra)


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
    haproxy = _haproxy(spec)
    resource_ids = HAProxyIds.of(spec, owner)
    files: dict[str, str] = {}
    cloud_init: str | None = None
    rule: dict[str, Any] | None = None
    if cpl is not None:
        files = build_haproxy_files(spec, cpl)
        cloud_init = files[CLOUD_INIT_FILE]
        domains = rule_domain_names(cpl.spec.confluent, spec.databricks, status_name=spec.status_domain_name)
        rule = build_private_endpoint_rule_body(resource_ids.private_link_service, domain_names=domains)
    azure = [
        build_haproxy_nsg(spec, owner=owner),
        build_haproxy_load_balancer(spec, owner=owner),
        build_private_link_service(
            spec, resource_ids.lb, visibility=list(haproxy.private_link_visibility), owner=owner
        ),
        build_vmss(
            spec,
            haproxy,
            owner=owner,
            nsg_id=resource_ids.nsg,
            backend_pool_id=resource_ids.lb.backend_pool,
            cloud_init=cloud_init,
            field="spec.haproxy",
        ),
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
