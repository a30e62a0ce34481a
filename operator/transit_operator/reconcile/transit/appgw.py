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
from transit_operator.cloud.errors import Classified, CloudError
from transit_operator.cloud.network import (
    SubnetFacts,
    gateway_backend_ips,
    observe_subnet,
    set_subnet_network_security_group,
)
from transit_operator.plan import ids
from transit_operator.plan.ids import APPLICATION_GATEWAYS, same_id
from transit_operator.plan.model import AzureResource, Plan
from transit_operator.plan.naming import GATEWAY_POOL_NAME
from transit_operator.plan.ownership import Owner
from transit_operator.plan.transit.appgw import GatewayIds, private_link_frontend_name
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
    ensure_in_order,
    private_link_target,
    provisioned,
)

__all__ = ["DRAIN_SECONDS", "OPTION"]

# After a configuration update, App Gateway ends live TCP/TLS-listener connections after this default
# draining timeout (not settable): learn.microsoft.com/azure/application-gateway/tcp-tls-proxy-overview.
DRAIN_SECONDS = 30


# --- reconcile ----------------------------------------------------------------------------------------------


def _start(inputs: TransitInput, plan: Plan) -> _GatewayPass:
    return _GatewayPass(inputs, plan, GatewayIds.of(inputs.sxt.spec, inputs.owner))


@dataclass
class _GatewayPass:
    """This option's part of one pass: public IP, NSG (+ subnet association), then the gateway."""

    inputs: TransitInput
    plan: Plan
    resource_ids: GatewayIds
    gateway_result: EnsureResult | None = None
    observed_gateway: dict[str, Any] | None = None
    gateway_what: str = ""
    updates: ApplicationGatewayStatus | None = None  # status.applicationGateway after this pass

    def ensure_resources(self, record: PassRecord) -> databricks.PrivateLinkTarget:
        inputs, gateway_id = self.inputs, self.resource_ids.gateway
        arm = Arm(inputs.ctx)
        subnet_id = inputs.sxt.spec.network.frontend_subnet_id

        def subnet_nsg(resource: AzureResource) -> str | None:
            # The gateway goes on once its subnet carries an NSG that lets the v2 control plane in.
            if resource.id.lower() != gateway_id.lower():
                return None
            if _ensure_subnet_nsg(arm, subnet_id, self.resource_ids.nsg, record):
                return None
            return f"the network security group of subnet {subnet_id.rsplit('/', 1)[-1]}"

        results = ensure_in_order(arm, self.plan.azure, OwnedBy(inputs.owner), record, gate=subnet_nsg)
        self.gateway_what = ids.label(APPLICATION_GATEWAYS, gateway_id.rsplit("/", 1)[-1])
        self.gateway_result = results.get(gateway_id.lower())
        if self.gateway_result is not None:
            self.observed_gateway = self.gateway_result.observed
            self.updates = _configuration_updates(inputs, self.gateway_result, self.gateway_what, record)
        else:  # waiting, or refused: its pool and connections as they are
            try:
                self.observed_gateway = arm.observe(gateway_id)
            except CloudError:
                self.observed_gateway = None
        return private_link_target(
            ApplicationGatewayTarget.of(inputs.ctx, gateway_id),
            private_link_frontend_name(inputs.sxt.spec),
            self.gateway_result,
        )

    def finish(self, record: PassRecord) -> OptionReport:
        backend_ips = gateway_backend_ips(self.observed_gateway, GATEWAY_POOL_NAME)
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
    resource_ids = GatewayIds.of(spec, owner)
    return [resource_ids.gateway, resource_ids.nsg, resource_ids.public_ip]


def _private_link_id(spec: ServerlessTransitSpec, owner: Owner) -> str:
    return GatewayIds.of(spec, owner).gateway


def _delete(teardown: Teardown) -> bool:
    """Gateway -> NSG association -> NSG, public IP; each layer once the one above is gone."""
    inputs, arm = teardown.inputs, teardown.arm
    spec, resource_ids = inputs.sxt.spec, GatewayIds.of(inputs.sxt.spec, inputs.owner)
    if not teardown.delete(resource_ids.gateway, "application gateway"):
        return False
    # An NSG still associated with a subnet cannot be deleted (InUseNetworkSecurityGroupCannotBeDeleted).
    nsg = arm.observe(resource_ids.nsg)
    if nsg is not None and teardown.owned_by.is_ours(tags_of(nsg)):
        subnet_id = spec.network.frontend_subnet_id
        subnet = observe_subnet(arm, subnet_id)
        attached = subnet.network_security_group_id if subnet is not None else None
        if subnet is not None and attached and same_id(attached, resource_ids.nsg):
            record = PassRecord()
            _set_subnet_nsg(arm, subnet, None, record, f"subnet {subnet_id.rsplit('/', 1)[-1]}")
            teardown.events.extend(record.events)
            if record.errors:
                raise record.errors[0][1].as_error()
            return False
    nsg_gone = teardown.delete(resource_ids.nsg, "network security group", observed=nsg)
    pip_gone = teardown.delete(resource_ids.public_ip, "public IP")
    return nsg_gone and pip_gone


OPTION = TransitOption(start=_start, private_link_id=_private_link_id, owned_ids=_owned_ids, delete=_delete,
                       diagnose=proxy_health.application_gateway)
