"""Each option's own hops of a data-path diagnosis (`reconcile.transit.diagnosis`): `proxy` and `backends`.

    application_gateway   proxy: the gateway exists, is provisioned (or applying an update) and Running;
                          backends: the gateway's backend health API (`cloud.network.gateway_backend_health`),
                          every address of the Confluent pool Up
    haproxy               the backend health script on every VMSS instance at once (a read-only managed run
                          command, `cloud.runcommand.run_read_only`): proxy - every instance answers, its
                          HAProxy answers, its config file has the desired hash; backends - HAProxy's own
                          checks (TLS hello with the zone's SNI) see every Confluent endpoint UP on every
                          instance that answered
"""

from __future__ import annotations

from collections.abc import Mapping

from transit_operator.api.v1alpha1 import HopVerdict
from transit_operator.cloud.arm import Arm, provisioning_state
from transit_operator.cloud.errors import TransitError
from transit_operator.cloud.network import gateway_backend_health
from transit_operator.cloud.runcommand import InstanceOutput, ScaleSet
from transit_operator.plan.haproxy_config import parse_backend_health, render_backend_health_script
from transit_operator.plan.naming import GATEWAY_POOL_NAME
from transit_operator.plan.transit.appgw import GatewayIds
from transit_operator.plan.transit.haproxy import HAProxyIds
from transit_operator.reconcile.transit.diagnosis import DiagnosisInput, hop

__all__ = ["application_gateway", "haproxy", "haproxy_verdicts"]


def application_gateway(inputs: DiagnosisInput) -> tuple[HopVerdict, HopVerdict]:
    gateway_id = GatewayIds.of(inputs.sxt.spec, inputs.owner).gateway
    name = gateway_id.rsplit("/", 1)[-1]
    try:
        gateway = Arm(inputs.ctx).observe(gateway_id)
    except TransitError as exc:
        unread = f"Application Gateway {name} could not be read: {exc}"
        return hop("proxy", "Unknown", unread), hop("backends", "Unknown", unread)
    if gateway is None:
        missing = f"Application Gateway {name} does not exist"
        return hop("proxy", "Broken", missing), hop("backends", "NotChecked", missing)
    state = provisioning_state(gateway) or "unknown"
    running = str((gateway.get("properties") or {}).get("operationalState") or "unknown")
    if state.lower() not in ("succeeded", "updating") or running.lower() != "running":
        broken = f"Application Gateway {name}: provisioningState {state}, operationalState {running}"
        return hop("proxy", "Broken", broken), hop("backends", "NotChecked", broken)
    proxy = hop("proxy", "Healthy", f"Application Gateway {name}: {state}, {running}")
    try:
        servers = [s for s in gateway_backend_health(inputs.ctx, gateway_id) if s.pool.lower() == GATEWAY_POOL_NAME]
    except TransitError as exc:
        return proxy, hop("backends", "Unknown", f"backend health of {name} could not be read: {exc}")
    if not servers:
        return proxy, hop("backends", "Broken", f"backend pool {GATEWAY_POOL_NAME} of {name} has no address")
    down = [s for s in servers if not s.up]
    if down:
        shown = "; ".join(f"{s.address}: {s.health}" + (f" ({s.log})" if s.log else "") for s in down)
        return proxy, hop("backends", "Broken", shown)
    return proxy, hop("backends", "Healthy", "Up: " + ", ".join(sorted({s.address for s in servers})))


def haproxy(inputs: DiagnosisInput) -> tuple[HopVerdict, HopVerdict]:
    """Every VMSS instance runs the backend health script (a read-only managed run command,
    `plan.haproxy_config.render_backend_health_script`): proxy - each answers, HAProxy answers on it, and its
    config file has the desired hash (`status.haproxy.desiredConfigHash`); backends - on every instance,
    HAProxy's own checks see every Confluent endpoint up."""
    spec = inputs.sxt.spec
    vmss_id = HAProxyIds.of(spec, inputs.owner).vmss
    desired = inputs.status.haproxy.desired_config_hash if inputs.status.haproxy is not None else None
    try:
        scale_set = ScaleSet.of(inputs.ctx, vmss_id)
        instance_ids = scale_set.instance_ids()
    except TransitError as exc:
        unread = f"the instances of {vmss_id.rsplit('/', 1)[-1]} could not be listed: {exc}"
        return hop("proxy", "Unknown", unread), hop("backends", "Unknown", unread)
    if not instance_ids:
        none = f"scale set {vmss_id.rsplit('/', 1)[-1]} has no instance"
        return hop("proxy", "Broken", none), hop("backends", "NotChecked", none)
    outputs = scale_set.read(instance_ids, render_backend_health_script(), location=spec.azure.location)
    return haproxy_verdicts(outputs, desired)


def haproxy_verdicts(outputs: Mapping[str, InstanceOutput], desired: str | None) -> tuple[HopVerdict, HopVerdict]:
    """The `proxy` and `backends` verdicts from each instance's health script output."""
    proxy_broken: list[str] = []
    unread: list[str] = []
    backends_broken: list[str] = []
    answered = 0
    for instance_id in sorted(outputs, key=lambda i: (len(i), i)):
        out = outputs[instance_id]
        if out.error is not None:
            unread.append(f"instance {instance_id}: {out.error}")
            continue
        health = parse_backend_health(out.output)
        if health.result == "unknown" and not health.servers:
            proxy_broken.append(f"instance {instance_id}: HAProxy does not answer ({health.detail})")
            continue
        if desired is not None and health.config_hash != desired:
            proxy_broken.append(f"instance {instance_id}: runs config {health.config_hash or 'none'}, not {desired}")
            continue
        answered += 1
        for server in health.down:
            backends_broken.append(
                f"instance {instance_id}: {server.zone} {server.address} {server.state} ({server.check})"
            )
    if proxy_broken:
        proxy = hop("proxy", "Broken", "; ".join(proxy_broken + unread))
    elif unread:
        proxy = hop("proxy", "Unknown", "; ".join(unread))
    else:
        proxy = hop("proxy", "Healthy", f"{answered} instance(s) answer with config {desired}")
    if backends_broken:
        backends = hop("backends", "Broken", "; ".join(backends_broken))
    elif answered == 0:
        backends = hop("backends", "Unknown", "no instance answered")
    else:
        backends = hop("backends", "Healthy", f"every Confluent endpoint UP on {answered} instance(s)")
    return proxy, backends
