"""ServerlessTransit option `haproxy`: NSG, Standard LB, Private Link Service, VMSS of HAProxy, the Databricks
side, and the HAProxy config on every instance.

One pass (`reconcile`), level-based, never waiting on a long-running operation:

    1. Databricks preflight (reads only): credentials, workspaces, NCC; a region mismatch stops here,
       before anything is created anywhere
    2. ARM, dependencies first (NSG, LB -> PLS, VMSS): one GET each, a PUT only when missing or different;
       a resource waits until the ones it references are provisioned
    3. Databricks (`reconcile.ncc`): NCC, the rule to the PLS, approval of exactly the rule's connection
       (read from the PLS GET of step 2: no extra call), workspace bindings
    4. HAProxy config: the VMSS model carries it as customData (new and reimaged instances); live
       instances get it with run-command (`cloud.runcommand`), only those whose applied hash in status
       differs from the desired one - a steady-state pass lists the instances (one GET) and runs nothing
    5. status + conditions: Ready only when every resource is provisioned, the rule is ESTABLISHED and
       every instance runs the desired config hash

Azure never returns a VMSS's customData, so "is the model's customData current?" cannot be read back; the
operator tags the scale set with the hash of the cloud-init it wrote (`CLOUD_INIT_TAG`) and compares that.

`finalize`: `Delete` removes the NCC rule first (and our connection on the PLS: a PLS with live
connections cannot be deleted), then the VMSS and the PLS, then the LB and the NSG once nothing references
them, then the NCC if we created it and nothing else uses it. `Orphan` only removes our ownership tags and
leaves Databricks as it is.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transit_operator.api.v1alpha1 import HAProxySpec, InstanceStatus
from transit_operator.cloud import runcommand
from transit_operator.cloud.approval import PrivateLinkServiceTarget, connection_from_rest, find_connection
from transit_operator.cloud.arm import Arm, DeleteResult, EnsureResult
from transit_operator.cloud.errors import CloudError, classify
from transit_operator.plan.confluent import healthy_endpoint_ips
from transit_operator.plan.haproxy_config import config_hash
from transit_operator.plan.haproxy_transit import (
    HAPROXY_CFG_FILE,
    TransitIds,
    build_haproxy_transit_plan,
)
from transit_operator.plan.ids import parse_resource_id
from transit_operator.plan.model import AzureResource
from transit_operator.plan.ncc import derive_domain_names
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile import ncc as dbx
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import Event, Outcome
from transit_operator.reconcile.ownership import OwnedBy
from transit_operator.reconcile.transit_common import TransitInput, TransitPass, error_events, outcome_with

__all__ = ["CLOUD_INIT_TAG", "RUN_COMMAND_PASS_SECONDS", "finalize", "reconcile"]

# Tag on the VMSS: hash of the cloud-init in its model's customData (which Azure never returns on GET).
CLOUD_INIT_TAG = "transit-operator-cloud-init"
# A pass spends at most this long pushing config with run-command (a kopf worker is held meanwhile);
# instances not done are picked up by the next pass. Azure's run-command takes ~20 s to minutes.
RUN_COMMAND_PASS_SECONDS = 120.0
# Back-off before re-trying instances that refused the config (the same config would fail the same way
# until something changes; the drift timer and spec changes retry too).
FAILED_APPLY_REQUEUE = 60.0
_REFUSED = frozenset({"invalid", "failed", "unknown", "error"})


def _what(resource: AzureResource) -> str:
    return f"{resource.type.rsplit('/', 1)[-1]} {resource.name}"


def _with_cloud_init_tag(vmss: AzureResource) -> AzureResource:
    """The VMSS with the hash of its customData as a tag (so a changed config is a changed tag)."""
    os_profile = vmss.body["properties"]["virtualMachineProfile"]["osProfile"]
    custom_data = os_profile.get("customData")
    if custom_data is None:
        return vmss
    body = copy.deepcopy(vmss.body)
    body["tags"] = {**body.get("tags", {}), CLOUD_INIT_TAG: config_hash(custom_data)}
    return vmss.model_copy(update={"body": body})


def _vmss_for_compare(desired: AzureResource, observed: dict[str, Any] | None) -> dict[str, Any] | None:
    """The observed VMSS with the customData we know it has: the desired one when its tag says so."""
    if observed is None:
        return None
    desired_tag = (desired.body.get("tags") or {}).get(CLOUD_INIT_TAG)
    observed_tags = {str(k).lower(): v for k, v in (observed.get("tags") or {}).items()}
    if desired_tag is None or observed_tags.get(CLOUD_INIT_TAG) != desired_tag:
        return observed
    view = copy.deepcopy(observed)
    profile = view.setdefault("properties", {}).setdefault("virtualMachineProfile", {})
    profile.setdefault("osProfile", {})["customData"] = desired.body["properties"]["virtualMachineProfile"][
        "osProfile"
    ]["customData"]
    return view


def _provisioned(result: EnsureResult | None) -> bool:
    return (
        result is not None
        and not result.in_flight
        and (result.provisioning_state or "").lower() == "succeeded"
    )


def _instances_previous(previous: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    haproxy = previous.get("haproxy") or {}
    return {
        str(i.get("instanceId")): dict(i)
        for i in haproxy.get("instances") or []
        if isinstance(i, Mapping) and i.get("instanceId") is not None
    }


def reconcile(inp: TransitInput) -> Outcome:
    sxt, ctx, owner = inp.sxt, inp.ctx, inp.owner
    spec = sxt.spec
    assert spec.haproxy is not None and inp.cpl is not None
    haproxy: HAProxySpec = spec.haproxy
    generation = inp.generation
    previous = inp.previous
    run = TransitPass()

    # 1. plan (pure) and the Databricks preflight (reads only): nothing is written before both pass.
    try:
        plan = build_haproxy_transit_plan(sxt, cpl=inp.cpl, uid=owner.uid)
        domain_names = derive_domain_names(inp.cpl.spec.confluent, spec.databricks.extra_domain_names)
    except ValueError as exc:
        message = f"spec: {exc}"
        return outcome_with(
            inp,
            cond.stalled(Reason.INVALID_SPEC, message, generation),
            events=[Event("Warning", "InvalidSpec", message)],
        )
    try:
        pre = dbx.preflight(spec, owner.namespace, ctx, inp.previous_ncc)
    except dbx.DatabricksProblem as problem:
        new = (
            cond.reconciling(problem.reason, problem.message, generation)
            if problem.retry_after is not None
            else cond.stalled(problem.reason, problem.message, generation)
        )
        return outcome_with(
            inp,
            new,
            events=error_events(previous.get("conditions") or [], new),
            requeue_after=problem.retry_after,
        )
    except Exception as exc:
        classified = classify(exc)
        what = "Databricks account"
        run.errors.append((what, classified))
        summary, requeue = run.summary(generation, inp.soon, "")
        return outcome_with(
            inp,
            summary,
            events=error_events(previous.get("conditions") or [], summary),
            requeue_after=requeue,
        )

    # 2. ARM, dependencies first.
    tid = TransitIds(spec, owner)
    arm = Arm(ctx)
    rule = OwnedBy(owner)
    results: dict[str, EnsureResult] = {}
    for resource in plan.azure:
        key = resource.id.lower()
        blocked = [d for d in resource.dependsOn if not _provisioned(results.get(d.lower()))]
        if blocked:
            names = ", ".join(d.rsplit("/", 1)[-1] for d in blocked)
            run.wait(Reason.PROVISIONING, f"{_what(resource)} waits for {names}", inp.soon)
            continue
        try:
            if resource.type.lower() == "microsoft.compute/virtualmachinescalesets":
                resource = _with_cloud_init_tag(resource)
                observed = _vmss_for_compare(resource, arm.observe(resource.id))
                result = arm.ensure(resource, rule, observed=observed)
            else:
                result = arm.ensure(resource, rule)
        except Exception as exc:
            run.fail(_what(resource), exc)
            continue
        results[key] = result
        run.note(_what(resource), result)
        if (result.provisioning_state or "").lower() == "failed" and not result.wrote:
            run.stalled.append((Reason.PROVISIONING_FAILED, f"{_what(resource)}: provisioningState Failed"))

    pls_result = results.get(tid.private_link_service.lower())
    vmss_result = results.get(tid.vmss.lower())

    # 3. Databricks: NCC, rule to the PLS, approval of exactly its connection, bindings.
    pls_name = parse_resource_id(tid.private_link_service)
    target = dbx.PrivateLinkTarget(
        resource_id=tid.private_link_service,
        group_id=None,
        connections=PrivateLinkServiceTarget(
            ctx.network(spec.azure.subscription_id),
            pls_name.resource_group,
            pls_name.name,
            tid.private_link_service,
        ),
        ready=_provisioned(pls_result),
        observed_connections=[
            connection_from_rest(c)
            for c in ((pls_result.observed if pls_result else {}).get("properties") or {}).get(
                "privateEndpointConnections"
            )
            or []
        ]
        if pls_result is not None and not pls_result.wrote
        else None,
    )
    ncc_status: dict[str, Any] = dict(previous.get("ncc") or {})
    established = False
    try:
        dpass = dbx.reconcile_databricks(spec, pre, target, domain_names=domain_names)
        ncc_status = dpass.ncc
        established = dpass.established
        run.writes += dpass.writes
        run.events += dpass.events
        if dpass.problem is not None:
            run.stalled.append((dpass.problem.reason, dpass.problem.message))
        elif dpass.waiting is not None:
            reason = Reason.WAITING_FOR_APPROVAL if target.ready else Reason.PROVISIONING
            run.wait(reason, dpass.waiting, dpass.requeue_after or inp.soon)
    except Exception as exc:
        run.fail("Databricks NCC", exc)

    # 4. HAProxy config on every instance.
    config = plan.files[HAPROXY_CFG_FILE]
    desired_hash = config_hash(config)
    rollout = _rollout(inp, run, tid, haproxy, vmss_result, config, desired_hash)
    instances, config_ok = rollout.instances, rollout.ok

    # 5. status and conditions.
    ips = healthy_endpoint_ips(inp.cpl.status)
    fields: dict[str, Any] = {
        "privateLinkResourceId": tid.private_link_service,
        "privateLinkGroupId": None,
        "backendIps": [ips[z] for z in sorted(ips)],
        "ncc": ncc_status,
        "haproxy": {"desiredConfigHash": desired_hash, "instances": instances},
    }
    summary, requeue = run.summary(
        generation,
        inp.soon,
        f"transit provisioned; NCC rule ESTABLISHED; {len(instances)} instance(s) run config {desired_hash}",
    )
    if summary[0]["status"] == "True" and not (established and config_ok):  # belt and braces
        summary = cond.reconciling(Reason.PROVISIONING, "not every part is ready yet", generation)
        requeue = inp.soon
    rule_message = (
        f"NCC rule {ncc_status.get('ruleId') or '-'}: {ncc_status.get('connectionState') or 'not created'}"
    )
    domain_conditions = [
        cond.domain(
            cond.NCC_RULE_ESTABLISHED,
            established,
            Reason.APPROVED if established else Reason.WAITING_FOR_APPROVAL,
            rule_message,
            generation,
        ),
        cond.domain(cond.CONFIG_APPLIED, config_ok, rollout.reason, rollout.message, generation),
    ]
    events = run.events + error_events(previous.get("conditions") or [], summary)
    return outcome_with(
        inp, [*summary, *domain_conditions], fields=fields, events=events, requeue_after=requeue
    )


@dataclass(frozen=True)
class _Rollout:
    instances: list[dict[str, Any]]  # status.haproxy.instances
    ok: bool  # every instance runs the desired config
    reason: Reason  # of the ConfigApplied condition
    message: str


def _rollout(
    inp: TransitInput,
    run: TransitPass,
    tid: TransitIds,
    haproxy: HAProxySpec,
    vmss_result: EnsureResult | None,
    config: str,
    desired_hash: str,
) -> _Rollout:
    """Push `config` to the instances whose applied hash (status) is not the desired one: instances that
    refused it or did not finish are retried, instances added by a scale-out have no entry yet."""
    previous = _instances_previous(inp.previous)
    if not _provisioned(vmss_result):
        message = "waiting for the scale set to be provisioned before configuring its instances"
        return _Rollout(list(previous.values()), False, Reason.PROVISIONING, message)
    vmss_id = parse_resource_id(tid.vmss)
    compute = inp.ctx.compute(vmss_id.subscription_id)
    try:
        instance_ids = runcommand.list_instance_ids(compute, vmss_id.resource_group, vmss_id.name)
    except Exception as exc:
        run.fail(f"instances of {vmss_id.name}", exc)
        return _Rollout(
            list(previous.values()), False, Reason.TRANSIENT_ERROR, "could not list the instances"
        )
    todo = [i for i in instance_ids if (previous.get(i) or {}).get("appliedConfigHash") != desired_hash]
    applied = (
        runcommand.apply_config(
            compute,
            vmss_id.resource_group,
            vmss_id.name,
            todo,
            config=config,
            concurrency=haproxy.run_command_concurrency,
            deadline_seconds=RUN_COMMAND_PASS_SECONDS,
            polling_interval=inp.ctx.polling_interval,
        )
        if todo
        else {}
    )
    instances: list[dict[str, Any]] = []
    refused: list[str] = []
    unfinished: list[str] = []
    for instance_id in instance_ids:
        before = previous.get(instance_id) or {}
        outcome = applied.get(instance_id)
        if outcome is None:
            entry = InstanceStatus(
                instance_id=instance_id, applied_config_hash=before.get("appliedConfigHash")
            )
        elif outcome.ok:
            entry = InstanceStatus(instance_id=instance_id, applied_config_hash=desired_hash)
            run.events.append(
                Event(
                    "Normal",
                    "ConfigApplied",
                    f"instance {instance_id}: HAProxy config {desired_hash} {outcome.state}",
                )
            )
        else:
            entry = InstanceStatus(
                instance_id=instance_id,
                applied_config_hash=before.get("appliedConfigHash"),
                last_error=f"{outcome.state}: {outcome.error or ''}".rstrip(": "),
            )
            (refused if outcome.state in _REFUSED else unfinished).append(instance_id)
            if outcome.state in _REFUSED:
                run.events.append(
                    Event("Warning", "ConfigApplyFailed", f"instance {instance_id}: {entry.last_error}")
                )
        instances.append(entry.model_dump(by_alias=True, exclude_none=True))
    if refused:
        message = (
            f"instance(s) {', '.join(refused)} refused config {desired_hash} and keep their previous config: "
            + "; ".join(
                f"{i['instanceId']}: {i.get('lastError')}" for i in instances if i["instanceId"] in refused
            )
        )
        run.wait(Reason.CONFIG_APPLY_FAILED, message, FAILED_APPLY_REQUEUE)
        return _Rollout(instances, False, Reason.CONFIG_APPLY_FAILED, message)
    if unfinished:
        message = f"config {desired_hash} not yet applied on instance(s) {', '.join(unfinished)}; retrying"
        run.wait(Reason.PROVISIONING, message, inp.soon)
        return _Rollout(instances, False, Reason.PROVISIONING, message)
    if not instance_ids:
        message = "the scale set has no instances yet"
        run.wait(Reason.PROVISIONING, message, inp.soon)
        return _Rollout(instances, False, Reason.PROVISIONING, message)
    return _Rollout(
        instances, True, Reason.RECONCILED, f"{len(instance_ids)} instance(s) run config {desired_hash}"
    )


# --- finalize -------------------------------------------------------------------------------------------


def finalize(inp: TransitInput) -> Outcome:
    sxt, ctx, owner = inp.sxt, inp.ctx, inp.owner
    spec = sxt.spec
    generation = inp.generation
    tid = TransitIds(spec, owner)
    arm = Arm(ctx)
    rule = OwnedBy(owner)
    events: list[Event] = []
    ids_in_order = [tid.vmss, tid.private_link_service, tid.load_balancer, tid.nsg]
    try:
        if spec.deletion_policy == "Orphan":
            released = sum(arm.release(rid, rule) == "Released" for rid in ids_in_order)
            if released:
                events.append(
                    Event("Normal", "Released", f"removed ownership tags from {released} resource(s)")
                )
            new = cond.reconciling(
                Reason.DELETING, "Orphan: cloud resources released, Databricks left as is", generation
            )
            return outcome_with(inp, new, events=events, done=True)
        done = _delete_all(inp, arm, rule, tid, events)
    except Exception as exc:
        classified = exc.classified if isinstance(exc, CloudError) else classify(exc)
        message = f"deleting: {classified.code}: {classified.message}"
        new = (
            cond.reconciling(Reason.TRANSIENT_ERROR, message, generation)
            if classified.retryable
            else cond.stalled(Reason.CLOUD_ERROR, message, generation)
        )
        delay = classified.delay if classified.retryable and classified.delay else inp.soon * 5
        return outcome_with(
            inp, new, events=[*events, Event("Warning", new[0]["reason"], message)], requeue_after=delay
        )
    message = "cloud resources deleted" if done else "Delete: waiting for deletions to finish"
    return outcome_with(
        inp,
        cond.reconciling(Reason.DELETING, message, generation),
        events=events,
        requeue_after=None if done else inp.soon,
        done=done,
    )


def _delete_all(inp: TransitInput, arm: Arm, rule: OwnedBy, tid: TransitIds, events: list[Event]) -> bool:
    """NCC rule -> our PLS connection -> VMSS, PLS -> LB, NSG -> NCC; each layer once the one above is gone."""
    spec = inp.sxt.spec
    # The rule first: its endpoint's connection keeps the PLS from being deleted.
    removal = dbx.finalize_databricks(
        spec,
        inp.owner.namespace,
        inp.ctx,
        inp.previous_ncc,
        resource_id=tid.private_link_service,
        delete_ncc=False,
    )
    events += removal.events
    pls = arm.observe(tid.private_link_service)
    if pls is not None and removal.endpoint_name and rule.is_ours(pls.get("tags")):
        connections = [
            connection_from_rest(c)
            for c in (pls.get("properties") or {}).get("privateEndpointConnections") or []
        ]
        ours = find_connection(connections, removal.endpoint_name)
        if ours is not None and ours.status in ("Pending", "Approved"):
            parsed = parse_resource_id(tid.private_link_service)
            target = PrivateLinkServiceTarget(
                inp.ctx.network(parsed.subscription_id), parsed.resource_group, parsed.name
            )
            target.remove(ours)
            events.append(
                Event("Normal", "ConnectionRemoved", f"removed private endpoint connection {ours.name}")
            )
            pls = arm.observe(tid.private_link_service)

    def gone(result: DeleteResult, what: str) -> bool:
        if result.action == "NotOwned":
            events.append(Event("Warning", "NotDeleted", f"{what} is not tagged as ours: left in place"))
        return result.gone or result.action == "NotOwned"

    vmss_gone = gone(arm.delete(tid.vmss, rule), "scale set")
    pls_gone = gone(arm.delete(tid.private_link_service, rule, observed=pls), "private link service")
    lb_gone = nsg_gone = False
    if vmss_gone and pls_gone:
        lb_gone = gone(arm.delete(tid.load_balancer, rule), "load balancer")
    if vmss_gone:
        nsg_gone = gone(arm.delete(tid.nsg, rule), "network security group")
    if not (vmss_gone and pls_gone and lb_gone and nsg_gone):
        return False
    last = dbx.finalize_databricks(
        spec,
        inp.owner.namespace,
        inp.ctx,
        inp.previous_ncc,
        resource_id=tid.private_link_service,
        delete_ncc=True,
    )
    events += last.events
    return True
