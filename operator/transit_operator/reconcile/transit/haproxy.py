"""ServerlessTransit option `haproxy`: NSG, Standard LB, Private Link Service, VMSS of HAProxy, the Databricks
side, and the HAProxy config on every instance.

What this option adds to the ServerlessTransit pass (`reconcile.transit`), as its `OPTION`:

    ensure_resources  ARM, dependencies first (NSG, LB -> PLS, VMSS): one GET each, a PUT only when missing
                      or different; a resource waits until the ones it references are provisioned. The NCC
                      rule's target is the PLS (no group id); its connections come from the PLS GET
    finish            HAProxy config: the VMSS model carries it as customData (new and reimaged instances);
                      live instances get it with managed run commands (`cloud.runcommand`), only those whose
                      applied hash in status differs from the desired one, one step per pass (start, then
                      read the result and clean up on a later pass: no pass waits for a script) - a
                      steady-state pass lists the instances (one GET) and runs nothing. Ready also needs
                      every instance on the desired config hash (`ConfigApplied`)

Azure never returns a VMSS's customData, so "is the model's customData current?" cannot be read back:
`cloud.arm` tags the scale set with the hash of what it wrote (`WRITE_ONLY_TAG`) and compares that.

`delete` (after the NCC rule): our connection on the PLS (a PLS with live connections cannot be deleted),
then the VMSS and the PLS, then the LB and the NSG once nothing references them. `Orphan` releases the
VMSS, PLS, LB and NSG.
"""

from __future__ import annotations

from dataclasses import dataclass

from transit_operator.api.errors import TransitError
from transit_operator.api.v1alpha1 import (
    HAProxySpec,
    HAProxyStatus,
    InstanceStatus,
    ServerlessTransit,
    ServerlessTransitSpec,
    ServerlessTransitStatus,
)
from transit_operator.cloud import runcommand
from transit_operator.cloud.approval import PrivateLinkServiceTarget, connections_in, find_connection
from transit_operator.cloud.arm import Arm, EnsureResult, tags_of
from transit_operator.plan import ids
from transit_operator.plan.confluent import healthy_endpoint_ips
from transit_operator.plan.haproxy_config import config_hash
from transit_operator.plan.model import AzureResource, Plan
from transit_operator.plan.ownership import Owner
from transit_operator.plan.transit.haproxy import HAPROXY_CFG_FILE, HAProxyIds, build_haproxy_transit_plan
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile import timing
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import Event, Failure
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

__all__ = ["OPTION"]



def _instances_previous(previous: ServerlessTransitStatus) -> dict[str, InstanceStatus]:
    return {i.instance_id: i for i in (previous.haproxy.instances if previous.haproxy else [])}


def _start(inputs: TransitInput, plan: Plan) -> _HAProxyPass:
    return _HAProxyPass(inputs, plan, HAProxyIds.of(inputs.sxt.spec, inputs.owner))


@dataclass
class _HAProxyPass:
    """This option's part of one pass: the plan's ARM resources, then the config rollout."""

    inputs: TransitInput
    plan: Plan
    resource_ids: HAProxyIds
    vmss_result: EnsureResult | None = None  # set by ensure_resources: the rollout needs a provisioned VMSS

    def ensure_resources(self, record: PassRecord) -> databricks.PrivateLinkTarget:
        inputs = self.inputs
        results = ensure_in_order(Arm(inputs.ctx), self.plan.azure, OwnedBy(inputs.owner), record)
        pls_id = self.resource_ids.private_link_service
        self.vmss_result = results.get(self.resource_ids.vmss.lower())
        return private_link_target(
            PrivateLinkServiceTarget.of(self.inputs.ctx, pls_id), None, results.get(pls_id.lower())
        )

    def finish(self, record: PassRecord) -> OptionReport:
        inputs = self.inputs
        assert inputs.sxt.spec.haproxy is not None and inputs.cpl is not None
        config = self.plan.files[HAPROXY_CFG_FILE]
        desired_hash = config_hash(config)
        rollout = _rollout(inputs, record, self.resource_ids, inputs.sxt.spec.haproxy, self.vmss_result, config, desired_hash)
        ips = healthy_endpoint_ips(inputs.cpl.status)
        return OptionReport(
            backend_ips=[ips[z] for z in sorted(ips)],
            ready_message=(
                f"transit provisioned; NCC rule ESTABLISHED; {len(rollout.instances)} instance(s) run config "
                f"{desired_hash}"
            ),
            fields={"haproxy": HAProxyStatus(desired_config_hash=desired_hash, instances=rollout.instances)},
            conditions=[
                cond.domain(cond.CONFIG_APPLIED, rollout.ok, rollout.reason, rollout.message, inputs.generation)
            ],
            complete=rollout.ok,
        )


@dataclass(frozen=True)
class _Rollout:
    instances: list[InstanceStatus]  # status.haproxy.instances
    ok: bool  # every instance runs the desired config
    reason: Reason  # of the ConfigApplied condition
    message: str


def _rollout(
    inputs: TransitInput,
    record: PassRecord,
    resource_ids: HAProxyIds,
    haproxy: HAProxySpec,
    vmss_result: EnsureResult | None,
    config: str,
    desired_hash: str,
) -> _Rollout:
    """One step of pushing `config` to the instances whose applied hash (status) is not the desired one
    (`cloud.runcommand.advance`: read what the last pass started, clean up, start what may start; nothing
    waits). Instances that refused it are retried after a back-off; instances added by a scale-out have no
    entry yet."""
    previous = _instances_previous(inputs.previous)
    unprovisioned = "waiting for the scale set to be provisioned before configuring its instances"
    updating = vmss_result is not None and (vmss_result.provisioning_state or "").lower() == "updating"
    if not provisioned(vmss_result) and not updating:
        return _Rollout(list(previous.values()), False, Reason.PROVISIONING, unprovisioned)
    scale_set = runcommand.ScaleSet.of(inputs.ctx, resource_ids.vmss)
    try:
        instance_ids = scale_set.instance_ids()
    except TransitError as exc:
        record.fail(f"instances of {scale_set.name}", exc)
        return _Rollout(
            list(previous.values()), False, Reason.TRANSIENT_ERROR, "could not list the instances"
        )
    if updating and (not instance_ids or not set(instance_ids) <= set(previous)):
        # A model update (new customData after an endpoint IP change) leaves the running instances alone
        # (upgradePolicy Manual): their config goes on by run command meanwhile. Instances a scale-out is
        # still creating wait for the scale set.
        return _Rollout(list(previous.values()), False, Reason.PROVISIONING, unprovisioned)
    todo = [i for i in instance_ids if i not in previous or previous[i].applied_config_hash != desired_hash]
    applied = scale_set.advance(
        todo,
        config=config,
        location=inputs.sxt.spec.azure.location,
        concurrency=haproxy.run_command_concurrency,
        retry_after=timing.CONFIG_REFUSED,  # a new config is tried at once
    )
    instances: list[InstanceStatus] = []
    refused: list[str] = []
    under_way: list[str] = []
    for instance_id in instance_ids:
        before = previous.get(instance_id) or InstanceStatus(instance_id=instance_id)
        outcome = applied.get(instance_id)
        if outcome is None or outcome.state in runcommand.UNDER_WAY:
            entry = before
            if outcome is not None:
                under_way.append(instance_id)
        elif outcome.ok:
            entry = InstanceStatus(instance_id=instance_id, applied_config_hash=desired_hash)
            record.events.append(
                Event(
                    "Normal",
                    "ConfigApplied",
                    f"instance {instance_id}: HAProxy config {desired_hash} {outcome.state}",
                )
            )
        else:
            entry = InstanceStatus(
                instance_id=instance_id,
                applied_config_hash=before.applied_config_hash,
                last_error=f"{outcome.state}: {outcome.error or ''}".rstrip(": "),
            )
            refused.append(instance_id)
            record.events.append(
                Event("Warning", "ConfigApplyFailed", f"instance {instance_id}: {entry.last_error}")
            )
        instances.append(entry)
    if refused:
        message = (
            f"instance(s) {', '.join(refused)} refused config {desired_hash} and keep their previous config: "
            + "; ".join(
                f"{i.instance_id}: {i.last_error}" for i in instances if i.instance_id in refused
            )
        )
        if under_way:
            message += f"; still in progress on instance(s) {', '.join(under_way)}"
        record.wait(Reason.CONFIG_APPLY_FAILED, message, timing.IN_FLIGHT if under_way else timing.CONFIG_REFUSED)
        if not under_way:  # the same refusal, pass after pass, is what backs off and eventually stalls
            record.failures.append(
                Failure(Reason.CONFIG_APPLY_FAILED, message, key=f"config {desired_hash} refused by {sorted(refused)}")
            )
        return _Rollout(instances, False, Reason.CONFIG_APPLY_FAILED, message)
    if under_way:
        running = [i for i in under_way if applied[i].state == "running"]
        waiting = [i for i in under_way if applied[i].state == "waiting"]
        message = f"config {desired_hash} is being applied: run command under way on instance(s) " + (
            ", ".join(running) or "none"
        )
        if waiting:
            message += f"; waiting for a free slot: {', '.join(waiting)}"
        record.wait(Reason.PROVISIONING, message, timing.RUN_COMMAND)
        return _Rollout(instances, False, Reason.PROVISIONING, message)
    if not instance_ids:
        message = "the scale set has no instances yet"
        record.wait(Reason.PROVISIONING, message, timing.IN_FLIGHT)
        return _Rollout(instances, False, Reason.PROVISIONING, message)
    return _Rollout(
        instances, True, Reason.RECONCILED, f"{len(instance_ids)} instance(s) run config {desired_hash}"
    )


# --- finalize -------------------------------------------------------------------------------------------


def _owned_ids(spec: ServerlessTransitSpec, owner: Owner) -> list[str]:
    resource_ids = HAProxyIds.of(spec, owner)
    return [resource_ids.vmss, resource_ids.private_link_service, resource_ids.load_balancer, resource_ids.nsg]


def _private_link_id(spec: ServerlessTransitSpec, owner: Owner) -> str:
    return HAProxyIds.of(spec, owner).private_link_service


def _delete(teardown: Teardown) -> bool:
    """Our PLS connection -> VMSS, PLS -> LB, NSG; each layer once the one above is gone."""
    inputs, arm = teardown.inputs, teardown.arm
    resource_ids = HAProxyIds.of(inputs.sxt.spec, inputs.owner)
    pls = arm.observe(resource_ids.private_link_service)
    if pls is not None and teardown.endpoint_name and teardown.owned_by.is_ours(tags_of(pls)):
        ours = find_connection(connections_in(pls), teardown.endpoint_name)
        if ours is not None and ours.status in ("Pending", "Approved"):
            PrivateLinkServiceTarget.of(inputs.ctx, resource_ids.private_link_service).remove(ours)
            teardown.events.append(
                Event("Normal", "ConnectionRemoved", f"removed private endpoint connection {ours.name}")
            )
            pls = arm.observe(resource_ids.private_link_service)

    vmss_gone = teardown.delete(resource_ids.vmss, "scale set")
    pls_gone = teardown.delete(resource_ids.private_link_service, "private link service", observed=pls)
    lb_gone = nsg_gone = False
    if vmss_gone and pls_gone:
        lb_gone = teardown.delete(resource_ids.load_balancer, "load balancer")
    if vmss_gone:
        nsg_gone = teardown.delete(resource_ids.nsg, "network security group")
    return vmss_gone and pls_gone and lb_gone and nsg_gone


def _independent(sxt: ServerlessTransit, uid: str | None) -> list[AzureResource]:
    """NSG, LB and PLS need nothing from the ConfluentPrivateLink; the VMSS carries its endpoint IPs."""
    plan = build_haproxy_transit_plan(sxt, cpl=None, uid=uid)
    return [resource for resource in plan.azure if resource.type != ids.VIRTUAL_MACHINE_SCALE_SETS]


OPTION = TransitOption(start=_start, private_link_id=_private_link_id, owned_ids=_owned_ids, delete=_delete,
                       independent=_independent, diagnose=proxy_health.haproxy)
