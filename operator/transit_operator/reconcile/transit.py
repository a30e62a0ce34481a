"""ServerlessTransit: one level-based pass for every `spec.option`; the option supplies only what differs.

    reconcile(body, cpl, ctx) -> Outcome     `cpl` is the referenced ConfluentPrivateLink as a dict (the
                                             runtime's index lookup), or None when it does not exist
    finalize(body, ctx) -> Outcome

One pass, never waiting on a long-running operation:

    1. validate the body; wait for the ConfluentPrivateLink to be Ready (its endpoint IPs are the backends)
    2. the option's plan (pure) and the Databricks preflight (`reconcile.ncc`, reads only: credentials,
       workspaces, NCC): nothing is written anywhere before both pass; a region mismatch stops here
    3. the option's Azure resources, dependencies first (`OptionPass.ensure_resources`) -> the private link
       target of the NCC rule
    4. Databricks (`reconcile.ncc`): NCC, the rule to that target, approval of exactly the rule's connection
       (read from the option's GET of step 3: no extra call), workspace bindings
    5. the option's finish (`OptionPass.finish`: haproxy pushes its config to the instances)
    6. status + conditions: Ready only when the option's resources are provisioned, the rule is ESTABLISHED
       and the option reports itself complete

`finalize`: `Orphan` removes our ownership tags from the option's resources and leaves Databricks as it is;
`Delete` removes the NCC rule first, then the option's resources (`TransitOption.delete`, each layer once
the one above is gone), then the NCC if we created it and nothing else uses it.

To add an option: one module with an `OPTION: TransitOption` (`reconcile.transit_common`), one line in
`OPTIONS`.

An invalid body is `Stalled` with reason `InvalidSpec` and the camelCase field path; nothing is read or
written in the cloud. A ConfluentPrivateLink that is missing, invalid or not Ready is waited for
(`Reconciling`, `WaitingForDependency`, requeue): its endpoint IPs are the transit's backends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transit_operator.api.v1alpha1 import (
    ConfluentPrivateLink,
    NccStatus,
    ServerlessTransit,
    ServerlessTransitStatus,
)
from transit_operator.cloud.arm import Arm
from transit_operator.cloud.context import CloudContext
from transit_operator.cloud.errors import InvalidSpec, TransitError
from transit_operator.plan.confluent import owner_of_object
from transit_operator.plan.ncc import rule_domain_names
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile import ncc as dbx
from transit_operator.reconcile import preflight, timing, transit_appgw, transit_haproxy
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import Event, Failure, Outcome
from transit_operator.reconcile.ownership import OwnedBy
from transit_operator.reconcile.pass_record import (
    Clock,
    PassRecord,
    build_outcome,
    decide,
    deleting_failed,
    previous_status,
    utcnow,
    validated,
)
from transit_operator.reconcile.transit_common import Teardown, TransitInput, TransitOption, outcome_with
from transit_operator.reconcile.typos import pruned_fields_event

__all__ = ["OPTIONS", "finalize", "reconcile"]

# spec.option -> what the option does differently. One line per option.
OPTIONS: dict[str, TransitOption] = {
    "haproxy": transit_haproxy.OPTION,
    "applicationGateway": transit_appgw.OPTION,
}



def _ready_cpl(cpl: Mapping[str, Any] | None, name: str, namespace: str) -> ConfluentPrivateLink | str:
    key = f"ConfluentPrivateLink {namespace}/{name}"
    if cpl is None:
        return f"{key} does not exist"
    model = validated(ConfluentPrivateLink, cpl, with_status=True)  # its endpoint IPs become our backends
    if isinstance(model, str):
        return f"{key} is invalid: {model}"
    conditions = model.status.conditions if model.status else []
    if not cond.is_true(conditions, cond.READY):
        ready = cond.find(conditions, cond.READY)
        detail = f": {ready.reason}: {ready.message}" if ready else ""
        return f"{key} is not Ready{detail}"
    return model


def reconcile(
    body: dict[str, Any], cpl: dict[str, Any] | None, ctx: CloudContext, *, clock: Clock = utcnow
) -> Outcome:
    """One level-based pass; returns the complete status to write and when to look again."""
    outcome = _reconcile(body, cpl, ctx, clock)
    typo = pruned_fields_event(body, "ServerlessTransit")
    if typo is not None:
        outcome.events.insert(0, typo)
    return outcome


def _reconcile(body: dict[str, Any], cpl: dict[str, Any] | None, ctx: CloudContext, clock: Clock) -> Outcome:
    generation = (body.get("metadata") or {}).get("generation")
    previous = previous_status(ServerlessTransitStatus, body)
    sxt = validated(ServerlessTransit, body)
    if isinstance(sxt, str):
        return build_outcome(previous, generation, cond.stalled(Reason.INVALID_SPEC, sxt, generation), clock())
    owner = owner_of_object(sxt, uid=(body.get("metadata") or {}).get("uid"))
    option = OPTIONS.get(sxt.spec.option)
    if option is None:
        message = f"spec.option: {sxt.spec.option!r} is not supported by this operator build"
        return build_outcome(previous, generation, cond.stalled(Reason.INVALID_SPEC, message, generation), clock())
    ready = _ready_cpl(cpl, sxt.spec.confluent_private_link_ref.name, owner.namespace)
    if isinstance(ready, str):
        return build_outcome(
            previous,
            generation,
            cond.reconciling(Reason.WAITING_FOR_DEPENDENCY, f"waiting: {ready}", generation),
            clock(),
            requeue_after=timing.DEPENDENCY,
        )
    return _reconcile_option(
        option, TransitInput(body=body, sxt=sxt, owner=owner, cpl=ready, ctx=ctx, clock=clock)
    )


def finalize(body: dict[str, Any], ctx: CloudContext, *, clock: Clock = utcnow) -> Outcome:
    """Delete or release (per `deletionPolicy`) everything this object owns; `done` once nothing is left.

    An invalid spec cannot tell what is ours: the cloud is left as is and the finalizer released, with a
    Warning event."""
    sxt = validated(ServerlessTransit, body)
    if isinstance(sxt, str):
        return Outcome(
            status=previous_status(ServerlessTransitStatus, body),
            done=True,
            events=[Event("Warning", "NothingReleased", f"invalid spec ({sxt}): cloud resources left as is")],
        )
    owner = owner_of_object(sxt, uid=(body.get("metadata") or {}).get("uid"))
    option = OPTIONS.get(sxt.spec.option)
    if option is None:
        return Outcome(status=previous_status(ServerlessTransitStatus, body), done=True)
    return _finalize_option(
        option, TransitInput(body=body, sxt=sxt, owner=owner, cpl=None, ctx=ctx, clock=clock)
    )


# --- one pass of an option ----------------------------------------------------------------------------------


def _reconcile_option(option: TransitOption, inp: TransitInput) -> Outcome:
    spec, ctx, owner = inp.sxt.spec, inp.ctx, inp.owner
    assert inp.cpl is not None
    generation = inp.generation
    run = PassRecord()

    # 2. plan (pure) and the Databricks preflight (reads only): nothing is written before both pass.
    try:
        part = option.start(inp)
        domain_names = rule_domain_names(inp.cpl.spec.confluent, spec.databricks)
    except InvalidSpec as exc:
        message = str(exc) if exc.field else f"spec: {exc}"
        return outcome_with(inp, cond.stalled(Reason.INVALID_SPEC, message, generation))
    if preflight.needed(inp.previous, generation):
        early = _network_preflight(inp)
        if early is not None:
            return early
    try:
        pre = dbx.preflight(spec, owner.namespace, ctx, inp.previous_ncc)
    except dbx.DatabricksProblem as problem:
        return outcome_with(inp, problem.conditions(generation), requeue_after=problem.retry_after)
    except TransitError as exc:
        run.fail("Databricks account", exc)
        summary, requeue = decide(run, generation, "")
        return outcome_with(inp, summary, requeue_after=requeue, failure=run.failure)

    # 3. the option's Azure resources -> the target of the NCC rule.
    target = part.ensure_resources(run)

    # 4. Databricks: NCC, rule to the target, approval of exactly its connection, bindings.
    ncc_status = inp.previous.ncc or NccStatus()
    established = False
    try:
        dpass = dbx.reconcile_databricks(spec, pre, target, domain_names=domain_names)
        ncc_status = dpass.ncc
        established = dpass.established
        run.writes += dpass.writes
        run.events += dpass.events
        if dpass.failure is not None:
            run.failures.append(dpass.failure)
        if dpass.problem is not None:
            run.stall(dpass.problem.reason, dpass.problem.message)
        elif dpass.waiting is not None:
            reason = Reason.WAITING_FOR_APPROVAL if target.ready else Reason.PROVISIONING
            run.wait(reason, dpass.waiting, dpass.requeue_after or timing.IN_FLIGHT)
    except TransitError as exc:
        run.fail("Databricks NCC", exc)

    # 5. what the option does after the Databricks side.
    report = part.finish(run)

    # 6. status and conditions.
    fields: dict[str, Any] = {
        "private_link_resource_id": target.resource_id,
        "private_link_group_id": target.group_id,
        "backend_ips": report.backend_ips,
        "ncc": ncc_status,
        **report.fields,
    }
    summary, requeue = decide(run, generation, report.ready_message)
    if summary[0].status == "True" and not (established and report.complete):  # belt and braces
        summary = cond.reconciling(Reason.PROVISIONING, "not every part is ready yet", generation)
        requeue = timing.IN_FLIGHT
    if report.requeue_floor is not None:
        requeue = max(requeue or 0.0, report.requeue_floor)
    rule_message = (
        f"NCC rule {ncc_status.rule_id or '-'}: {ncc_status.connection_state or 'not created'}"
    )
    rule_established = cond.domain(
        cond.NCC_RULE_ESTABLISHED,
        established,
        Reason.APPROVED if established else Reason.WAITING_FOR_APPROVAL,
        rule_message,
        generation,
    )
    return outcome_with(
        inp,
        [*summary, rule_established, *report.conditions],
        fields=fields,
        events=run.events,
        requeue_after=requeue,
        failure=run.failure,
    )


def _network_preflight(inp: TransitInput) -> Outcome | None:
    """`reconcile.preflight` for the transit's subnets (and the gateway's static frontend IP): an outcome
    that writes nothing when something is missing or can never work; None when the pass may go on."""
    spec, generation = inp.sxt.spec, inp.generation
    static_ips = []
    if spec.application_gateway is not None:
        static_ips.append(
            preflight.StaticIp(
                "spec.applicationGateway.privateFrontendIp",
                spec.application_gateway.private_frontend_ip,
                "spec.network.frontendSubnetId",
            )
        )
    run = PassRecord()
    try:
        check = preflight.check_network(
            Arm(inp.ctx),
            subnets=[
                ("spec.network.frontendSubnetId", spec.network.frontend_subnet_id),
                ("spec.network.privateLinkSubnetId", spec.network.private_link_subnet_id),
            ],
            static_ips=static_ips,
        )
    except TransitError as exc:
        run.fail("reading the network the spec names", exc)
        summary, requeue = decide(run, generation, "")
        return outcome_with(inp, summary, requeue_after=requeue, failure=run.failure)
    if check.invalid:
        message = "; ".join(check.invalid)
        return outcome_with(inp, cond.stalled(Reason.INVALID_SPEC, message, generation))
    if check.missing:
        message = "; ".join(check.missing)
        new = cond.reconciling(Reason.WAITING_FOR_DEPENDENCY, message, generation)
        failure = Failure(Reason.WAITING_FOR_DEPENDENCY, message, key=message, stall_after=None)
        return outcome_with(inp, new, requeue_after=timing.PROPAGATION, failure=failure)
    return None


def _finalize_option(option: TransitOption, inp: TransitInput) -> Outcome:
    spec, owner = inp.sxt.spec, inp.owner
    generation = inp.generation
    arm = Arm(inp.ctx)
    owned_by = OwnedBy(owner)
    events: list[Event] = []
    try:
        if spec.deletion_policy == "Orphan":
            released = sum(arm.release(rid, owned_by) == "Released" for rid in option.owned_ids(spec, owner))
            if released:
                events.append(
                    Event("Normal", "Released", f"removed ownership tags from {released} resource(s)")
                )
            new = cond.reconciling(
                Reason.DELETING, "Orphan: cloud resources released, Databricks left as is", generation
            )
            return outcome_with(inp, new, events=events, done=True)
        done = _delete_all(option, inp, arm, owned_by, events)
    except TransitError as exc:
        return deleting_failed(inp.previous, generation, exc, inp.clock(), events=events)
    message = "cloud resources deleted" if done else "Delete: waiting for deletions to finish"
    return outcome_with(
        inp,
        cond.reconciling(Reason.DELETING, message, generation),
        events=events,
        requeue_after=None if done else timing.IN_FLIGHT,
        done=done,
    )


def _delete_all(
    option: TransitOption, inp: TransitInput, arm: Arm, owned_by: OwnedBy, events: list[Event]
) -> bool:
    """NCC rule -> the option's resources -> NCC; each layer once the one above is gone."""
    spec, owner = inp.sxt.spec, inp.owner
    target_id = option.private_link_id(spec, owner)
    # The rule first: its endpoint's connection keeps the target from being deleted.
    removal = dbx.finalize_databricks(
        spec, owner.namespace, inp.ctx, inp.previous_ncc, resource_id=target_id, delete_ncc=False
    )
    events += removal.events
    if not option.delete(Teardown(inp, arm, owned_by, removal.endpoint_name, events)):
        return False
    last = dbx.finalize_databricks(
        spec, owner.namespace, inp.ctx, inp.previous_ncc, resource_id=target_id, delete_ncc=True
    )
    events += last.events
    return True
