"""ServerlessTransit option `applicationGateway`: App Gateway v2 as an L4 proxy with its own Private Link.

One pass (`reconcile`), level-based, never waiting on a long-running operation:

    1. Databricks preflight (reads only, `reconcile.ncc`): credentials, workspaces, NCC; a region
       mismatch stops here, before anything is created anywhere
    2. ARM, dependencies first: the public IP and the gateway subnet's NSG (one GET each, a PUT only on a
       difference), the NSG's association with the gateway subnet (one GET; a subnet PUT only when unset),
       then the Application Gateway (one GET; one full PUT on a difference). The PUT is started with
       `polling=False`: App Gateway takes ~20 minutes in Azure, so the pass returns `requeue_after` and a
       later one reads `provisioningState` (Updating: nothing to do; Succeeded: go on). An endpoint IP change
       is a change of the backend pool only: exactly one gateway PUT.
    3. Databricks (`reconcile.ncc`): NCC, the rule to the gateway's id with `group_id` = the private
       frontend's name, approval of exactly that rule's connection on the gateway (`begin_update`, an LRO,
       not awaited; the connections come from the gateway GET of step 2: no extra call), workspace bindings
    4. status + conditions: Ready only when the gateway is provisioned and in sync and the rule is
       ESTABLISHED; `backendIps` are the ones the gateway really has

`finalize`: `Delete` removes the NCC rule, then the gateway (its private endpoint connections go with it:
no separate connection removal, which would be one more ~20-minute gateway update), then - once the
gateway is gone - detaches our NSG from the subnet and deletes the NSG and the public IP, then the NCC if we
created it and nothing else uses it. `Orphan` only removes our ownership tags and leaves Databricks and
the subnet association as they are. Objects not tagged as ours are never deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transit_operator.cloud.approval import ApplicationGatewayTarget, connection_from_rest
from transit_operator.cloud.arm import Arm, DeleteResult, EnsureResult
from transit_operator.cloud.context import CloudContext
from transit_operator.cloud.errors import Classified, CloudError, classify
from transit_operator.plan.appgw_transit import (
    APPLICATION_GATEWAYS,
    BACKEND_POOL_NAME,
    PRIVATE_FRONTEND_NAME,
    PUBLIC_IP_ADDRESSES,
    application_gateway_id,
    build_appgw_transit_plan,
    gateway_nsg_id,
    public_ip_id,
)
from transit_operator.plan.ids import NETWORK_SECURITY_GROUPS, parse_resource_id, same_id
from transit_operator.plan.ncc import derive_domain_names
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile import ncc as dbx
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import Event, Outcome
from transit_operator.reconcile.ownership import OwnedBy
from transit_operator.reconcile.transit_common import TransitInput, TransitPass, error_events, outcome_with

__all__ = ["GATEWAY_POLL_FACTOR", "finalize", "reconcile"]

# Polls of a gateway LRO are spaced wider than other resources': it takes ~20 minutes (transit.md rule 9)
# and every GET counts against the Network read budget (rule 13).
GATEWAY_POLL_FACTOR = 6.0
# Subnet fields Azure computes; left out of the PUT that sets the NSG.
_SUBNET_READ_ONLY = (
    "provisioningState",
    "ipConfigurations",
    "ipConfigurationProfiles",
    "privateEndpoints",
    "applicationGatewayIPConfigurations",
    "resourceNavigationLinks",
    "serviceAssociationLinks",
    "purpose",
)


def _provisioned(result: EnsureResult | None) -> bool:
    return (
        result is not None
        and not result.in_flight
        and (result.provisioning_state or "").lower() == "succeeded"
    )


def _pool_ips(gateway: Mapping[str, Any] | None) -> list[str]:
    """The IPs the gateway forwards to, as Azure reports them (not as we wish them)."""
    props = (gateway or {}).get("properties") or {}
    for pool in props.get("backendAddressPools") or []:
        if str(pool.get("name", "")).lower() == BACKEND_POOL_NAME:
            addresses = (pool.get("properties") or {}).get("backendAddresses") or []
            return [str(a["ipAddress"]) for a in addresses if a.get("ipAddress")]
    return []


# --- reconcile ----------------------------------------------------------------------------------------------


def reconcile(inp: TransitInput) -> Outcome:
    sxt, ctx, owner = inp.sxt, inp.ctx, inp.owner
    spec = sxt.spec
    assert spec.application_gateway is not None and inp.cpl is not None
    generation = inp.generation
    previous = inp.previous
    run = TransitPass()

    # 1. plan (pure) and the Databricks preflight (reads only): nothing is written before both pass.
    try:
        plan = build_appgw_transit_plan(sxt, cpl=inp.cpl, uid=owner.uid)
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
        run.fail("Databricks account", exc)
        summary, requeue = run.summary(generation, inp.soon, "")
        return outcome_with(
            inp,
            summary,
            events=error_events(previous.get("conditions") or [], summary),
            requeue_after=requeue,
        )

    # 2. ARM: what the gateway references must exist first (Azure refuses references to missing ones).
    arm = Arm(ctx)
    rule = OwnedBy(owner)
    public_ip = plan.resources_of_type(PUBLIC_IP_ADDRESSES)[0]
    nsg = plan.resources_of_type(NETWORK_SECURITY_GROUPS)[0]
    gateway = plan.resources_of_type(APPLICATION_GATEWAYS)[0]
    prerequisites_ok = True
    for resource, what in (
        (public_ip, f"public IP {public_ip.name}"),
        (nsg, f"network security group {nsg.name}"),
    ):
        try:
            result = arm.ensure(resource, rule)
        except Exception as exc:
            run.fail(what, exc)
            prerequisites_ok = False
            continue
        run.note(what, result)
        prerequisites_ok = prerequisites_ok and _provisioned(result)
    if prerequisites_ok:
        prerequisites_ok = _ensure_subnet_nsg(ctx, arm, spec.network.frontend_subnet_id, nsg.id, run)
    gateway_what = f"application gateway {gateway.name}"
    gateway_result: EnsureResult | None = None
    observed_gateway: dict[str, Any] | None = None
    if prerequisites_ok:
        try:
            gateway_result = arm.ensure(gateway, rule)
            observed_gateway = gateway_result.observed
            run.note(gateway_what, gateway_result)
            failed = (gateway_result.provisioning_state or "").lower() == "failed"
            if failed and not gateway_result.wrote:
                run.stalled.append((Reason.PROVISIONING_FAILED, f"{gateway_what}: provisioningState Failed"))
        except Exception as exc:
            run.fail(gateway_what, exc)
    else:
        run.wait(Reason.PROVISIONING, f"{gateway_what} waits for its public IP, NSG and subnet", inp.soon)
        try:
            observed_gateway = arm.observe(gateway.id)
        except CloudError:
            observed_gateway = None

    # 3. Databricks: NCC, rule to the gateway (group id = the private frontend), approval, bindings.
    gw = parse_resource_id(gateway.id)
    connections = ((observed_gateway or {}).get("properties") or {}).get("privateEndpointConnections")
    target = dbx.PrivateLinkTarget(
        resource_id=gateway.id,
        group_id=PRIVATE_FRONTEND_NAME,
        connections=ApplicationGatewayTarget(
            ctx.network(gw.subscription_id), gw.resource_group, gw.name, gateway.id
        ),
        ready=_provisioned(gateway_result),
        observed_connections=[connection_from_rest(c) for c in connections or []]
        if gateway_result is not None and not gateway_result.wrote
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

    # 4. status and conditions.
    backend_ips = _pool_ips(observed_gateway)
    if not backend_ips and _provisioned(gateway_result):
        run.wait(
            Reason.WAITING_FOR_DEPENDENCY,
            "the backend pool is empty: no Approved endpoint IP in the ConfluentPrivateLink yet",
            inp.soon * 2,
        )
    fields: dict[str, Any] = {
        "privateLinkResourceId": gateway.id,
        "privateLinkGroupId": PRIVATE_FRONTEND_NAME,
        "backendIps": backend_ips,
        "ncc": ncc_status,
    }
    summary, requeue = run.summary(
        generation,
        inp.soon,
        f"gateway provisioned with {len(backend_ips)} backend(s); NCC rule ESTABLISHED (group id "
        f"{PRIVATE_FRONTEND_NAME})",
    )
    if summary[0]["status"] == "True" and not established:  # belt and braces
        summary = cond.reconciling(Reason.PROVISIONING, "not every part is ready yet", generation)
        requeue = inp.soon
    if gateway_result is not None and gateway_result.in_flight and run.in_flight == [gateway_what]:
        requeue = max(requeue or 0.0, inp.soon * GATEWAY_POLL_FACTOR)
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
        )
    ]
    events = run.events + error_events(previous.get("conditions") or [], summary)
    return outcome_with(
        inp, [*summary, *domain_conditions], fields=fields, events=events, requeue_after=requeue
    )


# --- the gateway subnet's NSG -----------------------------------------------------------------------


def _ensure_subnet_nsg(ctx: CloudContext, arm: Arm, subnet_id: str, nsg_id: str, run: TransitPass) -> bool:
    """Associate our NSG with the gateway subnet (the customer's subnet: only this one field is changed).

    A subnet carrying another NSG is left alone: that NSG is the customer's to manage, and Azure's rules
    for the gateway subnet (GatewayManager 65200-65535) apply to it instead. True when the gateway may go on.
    """
    what = f"subnet {subnet_id.rsplit('/', 1)[-1]}"
    try:
        subnet = arm.observe(subnet_id)
    except CloudError as exc:
        run.fail(what, exc)
        return False
    if subnet is None:
        run.errors.append((what, Classified(False, "SubnetNotFound", f"{subnet_id} does not exist")))
        return False
    props = subnet.get("properties") or {}
    if (props.get("provisioningState") or "Succeeded").lower() not in ("succeeded", "failed"):
        run.in_flight.append(f"{what} (NSG association)")
        return False
    current = (props.get("networkSecurityGroup") or {}).get("id")
    if current and same_id(current, nsg_id):
        return True
    if current:
        run.events.append(
            Event(
                "Warning",
                "ForeignNetworkSecurityGroup",
                f"{what} already has network security group {current.rsplit('/', 1)[-1]}; left as is (it must "
                "allow GatewayManager on 65200-65535 and the listener ports from VirtualNetwork)",
            )
        )
        return True
    _put_subnet(ctx, subnet_id, subnet, nsg_id, run, what)
    return False


def _put_subnet(
    ctx: CloudContext,
    subnet_id: str,
    subnet: Mapping[str, Any],
    nsg_id: str | None,
    run: TransitPass,
    what: str,
) -> None:
    """One subnet PUT with `networkSecurityGroup` set (or removed), started without polling.

    Not `Arm.ensure`: a subnet carries no tags (nothing to own), and its PUT must carry the customer's
    own fields back unchanged.
    """
    parsed = parse_resource_id(subnet_id)
    props = {k: v for k, v in (subnet.get("properties") or {}).items() if k not in _SUBNET_READ_ONLY}
    if nsg_id is None:
        props.pop("networkSecurityGroup", None)
    else:
        props["networkSecurityGroup"] = {"id": nsg_id}
    body = {"properties": props}
    try:
        ctx.network(parsed.subscription_id).subnets.begin_create_or_update(
            parsed.resource_group, parsed.name, parsed.leaf_name, body, polling=False
        )
    except Exception as exc:  # classified like every other cloud error
        run.fail(what, exc)
        return
    verb = "Associated" if nsg_id else "Detached"
    run.writes += 1
    run.events.append(
        Event("Normal", verb, f"{verb} network security group {'with' if nsg_id else 'from'} {what}")
    )
    run.in_flight.append(f"{what} (NSG association)")


# --- finalize -------------------------------------------------------------------------------------------


def finalize(inp: TransitInput) -> Outcome:
    sxt, ctx, owner = inp.sxt, inp.ctx, inp.owner
    spec = sxt.spec
    generation = inp.generation
    arm = Arm(ctx)
    rule = OwnedBy(owner)
    events: list[Event] = []
    try:
        if spec.deletion_policy == "Orphan":
            ids = (
                application_gateway_id(spec, owner),
                gateway_nsg_id(spec, owner),
                public_ip_id(spec, owner),
            )
            released = sum(arm.release(rid, rule) == "Released" for rid in ids)
            if released:
                events.append(
                    Event("Normal", "Released", f"removed ownership tags from {released} resource(s)")
                )
            new = cond.reconciling(
                Reason.DELETING, "Orphan: cloud resources released, Databricks left as is", generation
            )
            return outcome_with(inp, new, events=events, done=True)
        done = _delete_all(inp, arm, rule, events)
    except Exception as exc:
        classified = classify(exc)
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


def _delete_all(inp: TransitInput, arm: Arm, rule: OwnedBy, events: list[Event]) -> bool:
    """NCC rule -> gateway -> NSG association -> NSG, public IP -> NCC; each layer once the one above is gone."""
    spec, owner, ctx = inp.sxt.spec, inp.owner, inp.ctx
    gw_id = application_gateway_id(spec, owner)
    removal = dbx.finalize_databricks(
        spec, owner.namespace, ctx, inp.previous_ncc, resource_id=gw_id, delete_ncc=False
    )
    events += removal.events

    def gone(result: DeleteResult, what: str) -> bool:
        if result.action == "NotOwned":
            events.append(Event("Warning", "NotDeleted", f"{what} is not tagged as ours: left in place"))
        return result.gone or result.action == "NotOwned"

    if not gone(arm.delete(gw_id, rule), "application gateway"):
        return False
    # An NSG still associated with a subnet cannot be deleted (InUseNetworkSecurityGroupCannotBeDeleted).
    nsg_id = gateway_nsg_id(spec, owner)
    nsg = arm.observe(nsg_id)
    if nsg is not None and rule.is_ours(nsg.get("tags")):
        subnet_id = spec.network.frontend_subnet_id
        subnet = arm.observe(subnet_id)
        attached = ((subnet or {}).get("properties") or {}).get("networkSecurityGroup") or {}
        if subnet is not None and attached.get("id") and same_id(attached["id"], nsg_id):
            run = TransitPass()
            _put_subnet(ctx, subnet_id, subnet, None, run, f"subnet {subnet_id.rsplit('/', 1)[-1]}")
            events.extend(run.events)
            if run.errors:
                raise run.errors[0][1].as_error()
            return False
    nsg_gone = gone(arm.delete(nsg_id, rule, observed=nsg), "network security group")
    pip_gone = gone(arm.delete(public_ip_id(spec, owner), rule), "public IP")
    if not (nsg_gone and pip_gone):
        return False
    last = dbx.finalize_databricks(
        spec, owner.namespace, ctx, inp.previous_ncc, resource_id=gw_id, delete_ncc=True
    )
    events += last.events
    return True
