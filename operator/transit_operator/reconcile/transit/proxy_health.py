"""Each option's own hops of a data-path diagnosis (`reconcile.transit.diagnosis`): `proxy` and `backends`.

    application_gateway   proxy: the gateway exists, is provisioned (or applying an update) and Running;
                          backends: the gateway's backend health API (`cloud.network.gateway_backend_health`),
                          every address of the Confluent pool Up
"""

from __future__ import annotations

from transit_operator.api.v1alpha1 import HopVerdict
from transit_operator.cloud.arm import Arm, provisioning_state
from transit_operator.cloud.errors import TransitError
from transit_operator.cloud.network import gateway_backend_health
from transit_operator.plan.appgw_transit import BACKEND_POOL_NAME, application_gateway_id
from transit_operator.reconcile.transit.diagnosis import DiagnosisInput, hop

__all__ = ["application_gateway"]


def application_gateway(inputs: DiagnosisInput) -> tuple[HopVerdict, HopVerdict]:
    gateway_id = application_gateway_id(inputs.sxt.spec, inputs.owner)
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
        servers = [s for s in gateway_backend_health(inputs.ctx, gateway_id) if s.pool.lower() == BACKEND_POOL_NAME]
    except TransitError as exc:
        return proxy, hop("backends", "Unknown", f"backend health of {name} could not be read: {exc}")
    if not servers:
        return proxy, hop("backends", "Broken", f"backend pool {BACKEND_POOL_NAME} of {name} has no address")
    down = [s for s in servers if not s.up]
    if down:
        shown = "; ".join(f"{s.address}: {s.health}" + (f" ({s.log})" if s.log else "") for s in down)
        return proxy, hop("backends", "Broken", shown)
    return proxy, hop("backends", "Healthy", "Up: " + ", ".join(sorted({s.address for s in servers})))
