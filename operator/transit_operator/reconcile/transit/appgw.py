"""ServerlessTransit option `applicationGateway`: App Gateway v2 as an L4 proxy with its own Private Link.

What this option adds to the ServerlessTransit pass (`reconcile.transit`), as its `OPTION`:

    ensure_resources  ARM, dependencies first: the public IP and the gateway subnet's NSG (one GET each, a
                      PUT only on a difference), the NSG's association with the gateway subnet (one GET; a
                      subnet PUT only when unset), then the Application Gateway (one GET; one full PUT on a
                      difference). The PUT is started with `polling=False`: App Gateway takes ~20 minutes in
                      Azure, so the pass returns `requeue_after` and a later one reads `provisioningState`
                      (Updating: nothing to do; Succeeded: go on). The NCC rule's target is the gateway's id
                      with `group_id` = the private link frontend's name; its connections are approved with
                      `begin_update` (an LRO, not awaited) and come from the gateway GET: no extra call
    finish            `backendIps` are the ones the gateway really has; an empty pool is waited for;
                      `status.applicationGateway` says whether a configuration update is in flight

Every configuration PUT of an existing gateway ends its live TCP connections after a 30 s drain (Azure's
connection draining for TCP/TLS listeners, not settable; learn.microsoft.com/azure/application-gateway/
tcp-tls-proxy-overview, Limitations). So the gateway is written only when it really changes:
`Arm.ensure` compares semantically (`cloud.arm.differences`: what Azure adds or fills in is ignored, ids
by value, lists by name or as sets), writes everything that differs in one PUT (a spec change and an
endpoint IP change seen in one pass are one update; a change seen while an update runs waits for it and
goes in the next one), and changes tags alone with a tags-only PATCH (adoption, release): no drain. When a
configuration update starts, a Warning event `GatewayUpdateDrainsConnections` names what changes, and
`status.applicationGateway.updateInFlight` is true until Azure has applied it.

`delete` (after the NCC rule): the gateway (its private endpoint connections go with it: no separate
connection removal, which would be one more ~20-minute gateway update), then - once the gateway is gone -
detaches our NSG from the subnet and deletes the NSG and the public IP. `Orphan` releases the gateway, the
NSG and the public IP, and leaves the subnet association as it is. Objects not tagged as ours are never
deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transit_operator.api.v1alpha1 import ApplicationGatewayStatus, ServerlessTransitSpec
from transit_operator.cloud.approval import ApplicationGatewayTarget
from transit_operator.cloud.arm import Arm, EnsureResult, tags_of
from transit_operator.cloud.errors import Classified, CloudError, TransitError
from transit_operator.cloud.network import (
    SubnetFacts,
    gateway_backend_ips,
    observe_subnet,
    set_subnet_network_security_group,
)
from transit_operator.plan.appgw_transit import (
    APPLICATION_GATEWAYS,
    BACKEND_POOL_NAME,
    PUBLIC_IP_ADDRESSES,
    application_gateway_id,
    build_appgw_transit_plan,
    gateway_nsg_id,
    private_link_frontend_name,
    public_ip_id,
)
from transit_operator.plan.ids import NETWORK_SECURITY_GROUPS, same_id
from transit_operator.plan.model import Plan
from transit_operator.plan.ownership import Owner
from transit_operator.reconcile import timing
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import Event
from transit_operator.reconcile.ownership import OwnedBy
from transit_operator.reconcile.pass_record import PassRecord
from transit_operator.reconcile.transit import databricks, proxy_health
from transit_operator.reconcile.transit.option import (
    OptionReport,
    Teardown,
    TransitInput,
    TransitOption,
    private_link_target,
    provisioned,
)

__all__ = ["DRAIN_SECONDS", "OPTION"]

# After a configuration update, App Gateway ends live TCP/TLS-listener connections after this default
# draining timeout (not settable): learn.microsoft.com/azure/application-gateway/tcp-tls-proxy-overview.
DRAIN_SECONDS = 30


# --- reconcile ----------------------------------------------------------------------------------------------


def _start(inputs: TransitInput) -> _GatewayPass:
    assert inputs.sxt.spec.application_gateway is not None and inputs.cpl is not None
    return _GatewayPass(inputs, build_appgw_transit_plan(inputs.sxt, cpl=inputs.cpl, uid=inputs.owner.uid))


@dataclass
class _GatewayPass:
    """This option's part of one pass: public IP, NSG (+ subnet association), then the gateway."""

    inputs: TransitInput
    plan: Plan
    gateway_result: EnsureResult | None = None
    observed_gateway: dict[str, Any] | None = None
    gateway_what: str = ""
    updates: ApplicationGatewayStatus | None = None  # status.applicationGateway after this pass

    def ensure_resources(self, record: PassRecord) -> databricks.PrivateLinkTarget:
        # What the gateway references must exist first (Azure refuses references to missing ones).
        inputs, plan = self.inputs, self.plan
        ctx = inputs.ctx
        arm = Arm(ctx)
        owned_by = OwnedBy(inputs.owner)
        public_ip = plan.resources_of_type(PUBLIC_IP_ADDRESSES)[0]
        nsg = plan.resources_of_type(NETWORK_SECURITY_GROUPS)[0]
        gateway = plan.resources_of_type(APPLICATION_GATEWAYS)[0]
        prerequisites_ok = True
        for resource, what in (
            (public_ip, f"public IP {public_ip.name}"),
            (nsg, f"network security group {nsg.name}"),
        ):
            try:
                result = arm.ensure(resource, owned_by)
            except TransitError as exc:
                record.fail(what, exc)
                prerequisites_ok = False
                continue
            record.note(what, result)
            prerequisites_ok = prerequisites_ok and provisioned(result)
        if prerequisites_ok:
            prerequisites_ok = _ensure_subnet_nsg(arm, inputs.sxt.spec.network.frontend_subnet_id, nsg.id, record)
        self.gateway_what = gateway_what = f"application gateway {gateway.name}"
        if prerequisites_ok:
            try:
                self.gateway_result = result = arm.ensure(gateway, owned_by)
                self.observed_gateway = result.observed
                record.note(gateway_what, result)
                self.updates = _configuration_updates(inputs, result, gateway_what, record)
                failed = (result.provisioning_state or "").lower() == "failed"
                if failed and not result.wrote:
                    record.stall(Reason.PROVISIONING_FAILED, f"{gateway_what}: provisioningState Failed")
            except TransitError as exc:
                record.fail(gateway_what, exc)
        else:
            record.wait(Reason.PROVISIONING, f"{gateway_what} waits for its public IP, NSG and subnet", timing.IN_FLIGHT)
            try:
                self.observed_gateway = arm.observe(gateway.id)
            except CloudError:
                self.observed_gateway = None
        return private_link_target(
            ApplicationGatewayTarget.of(ctx, gateway.id),
            private_link_frontend_name(inputs.sxt.spec),
            self.gateway_result,
        )

    def finish(self, record: PassRecord) -> OptionReport:
        backend_ips = gateway_backend_ips(self.observed_gateway, BACKEND_POOL_NAME)
        if not backend_ips and provisioned(self.gateway_result):
            record.wait(
                Reason.WAITING_FOR_DEPENDENCY,
                "the backend pool is empty: no Approved endpoint IP in the ConfluentPrivateLink yet",
                timing.BACKENDS,
            )
        # Only the gateway is in flight: its update takes ~20 minutes, poll it less often.
        gateway_only = record.in_flight == [self.gateway_what]
        slow = self.gateway_result is not None and self.gateway_result.in_flight and gateway_only
        return OptionReport(
            backend_ips=backend_ips,
            ready_message=(
                f"gateway provisioned with {len(backend_ips)} backend(s); NCC rule ESTABLISHED (group id "
                f"{private_link_frontend_name(self.inputs.sxt.spec)})"
            ),
            fields={
                "application_gateway": self.updates
                or self.inputs.previous.application_gateway
                or ApplicationGatewayStatus()
            },
            requeue_floor=timing.GATEWAY_LRO if slow else None,
        )


def _configuration_updates(
    inputs: TransitInput, result: EnsureResult, what: str, record: PassRecord
) -> ApplicationGatewayStatus:
    """status.applicationGateway after this pass's `ensure` of the gateway; a Warning event when this pass
    started a configuration update of an existing gateway (it will end live connections)."""
    before = inputs.previous.application_gateway or ApplicationGatewayStatus()
    now = before.model_copy()
    if result.wrote and not result.tags_only and result.action != "Started":
        changes = list(result.changes)
        now = ApplicationGatewayStatus(
            update_in_flight=True,
            configuration_updates=before.configuration_updates + 1,
            last_update_changes=changes,
            last_update_time=inputs.clock().isoformat().replace("+00:00", "Z"),
        )
        shown = ", ".join(changes[:5]) + (f" and {len(changes) - 5} more" if len(changes) > 5 else "")
        record.events.append(
            Event(
                "Warning",
                "GatewayUpdateDrainsConnections",
                f"{what}: configuration update started ({shown}); Azure ends live TCP connections through the "
                f"gateway {DRAIN_SECONDS} s after applying it",
            )
        )
    elif not result.in_flight:
        now = before.model_copy(update={"update_in_flight": False})
    return now


# --- the gateway subnet's NSG -----------------------------------------------------------------------


def _ensure_subnet_nsg(arm: Arm, subnet_id: str, nsg_id: str, record: PassRecord) -> bool:
    """Associate our NSG with the gateway subnet (the customer's subnet: only this one field is changed).

    A subnet carrying another NSG is left alone: that NSG is the customer's to manage, and Azure's rules
    for the gateway subnet (GatewayManager 65200-65535) apply to it instead. True when the gateway may go on.
    """
    what = f"subnet {subnet_id.rsplit('/', 1)[-1]}"
    try:
        subnet = observe_subnet(arm, subnet_id)
    except CloudError as exc:
        record.fail(what, exc)
        return False
    if subnet is None:
        record.errors.append((what, Classified(False, "SubnetNotFound", f"{subnet_id} does not exist")))
        return False
    if not subnet.settled:
        record.in_flight.append(f"{what} (NSG association)")
        return False
    current = subnet.network_security_group_id
    if current and same_id(current, nsg_id):
        return True
    if current:
        record.events.append(
            Event(
                "Warning",
                "ForeignNetworkSecurityGroup",
                f"{what} already has network security group {current.rsplit('/', 1)[-1]}; left as is (it must "
                "allow GatewayManager on 65200-65535 and the listener ports from VirtualNetwork)",
            )
        )
        return True
    _set_subnet_nsg(arm, subnet, nsg_id, record, what)
    return False


def _set_subnet_nsg(arm: Arm, subnet: SubnetFacts, nsg_id: str | None, record: PassRecord, what: str) -> None:
    """`cloud.network.set_subnet_network_security_group`, recorded in the pass."""
    try:
        set_subnet_network_security_group(arm, subnet, nsg_id)
    except CloudError as exc:
        record.fail(what, exc)
        return
    verb = "Associated" if nsg_id else "Detached"
    record.writes += 1
    record.events.append(
        Event("Normal", verb, f"{verb} network security group {'with' if nsg_id else 'from'} {what}")
    )
    record.in_flight.append(f"{what} (NSG association)")


# --- finalize -------------------------------------------------------------------------------------------


def _owned_ids(spec: ServerlessTransitSpec, owner: Owner) -> list[str]:
    return [application_gateway_id(spec, owner), gateway_nsg_id(spec, owner), public_ip_id(spec, owner)]


def _delete(teardown: Teardown) -> bool:
    """Gateway -> NSG association -> NSG, public IP; each layer once the one above is gone."""
    inputs, arm = teardown.inputs, teardown.arm
    spec, owner = inputs.sxt.spec, inputs.owner
    if not teardown.delete(application_gateway_id(spec, owner), "application gateway"):
        return False
    # An NSG still associated with a subnet cannot be deleted (InUseNetworkSecurityGroupCannotBeDeleted).
    nsg_id = gateway_nsg_id(spec, owner)
    nsg = arm.observe(nsg_id)
    if nsg is not None and teardown.owned_by.is_ours(tags_of(nsg)):
        subnet_id = spec.network.frontend_subnet_id
        subnet = observe_subnet(arm, subnet_id)
        attached = subnet.network_security_group_id if subnet is not None else None
        if subnet is not None and attached and same_id(attached, nsg_id):
            record = PassRecord()
            _set_subnet_nsg(arm, subnet, None, record, f"subnet {subnet_id.rsplit('/', 1)[-1]}")
            teardown.events.extend(record.events)
            if record.errors:
                raise record.errors[0][1].as_error()
            return False
    nsg_gone = teardown.delete(nsg_id, "network security group", observed=nsg)
    pip_gone = teardown.delete(public_ip_id(spec, owner), "public IP")
    return nsg_gone and pip_gone


OPTION = TransitOption(
    start=_start,
    private_link_id=application_gateway_id,
    owned_ids=_owned_ids,
    delete=_delete,
    diagnose=proxy_health.application_gateway,
)
