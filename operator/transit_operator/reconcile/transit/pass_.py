"""One ServerlessTransit pass (see the package docstring): validate, the option's resources, Databricks, status."""

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
from transit_operator.plan.ncc import rule_domain_names
from transit_operator.plan.ownership import owner_of_object
from transit_operator.plan.transit import build_transit_option_plan
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile import preflight, timing
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import Failure, Outcome
from transit_operator.reconcile.ownership import OwnedBy
from transit_operator.reconcile.pass_record import (
    Clock,
    PassRecord,
    build_outcome,
    decide,
    previous_status,
    utcnow,
    validated,
)
from transit_operator.reconcile.transit import databricks
from transit_operator.reconcile.transit.option import (
    TransitInput,
    TransitOption,
    ensure_in_order,
    outcome_with,
)
from transit_operator.reconcile.transit.registry import OPTIONS
from transit_operator.reconcile.typos import pruned_fields_event

__all__ = ["reconcile"]




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
        waiting = build_outcome(
            previous,
            generation,
            cond.reconciling(Reason.WAITING_FOR_DEPENDENCY, f"waiting: {ready}", generation),
            clock(),
            requeue_after=timing.DEPENDENCY,
        )
        if cpl is not None and option.independent is not None:
            inputs = TransitInput(body=body, sxt=sxt, owner=owner, cpl=None, ctx=ctx, clock=clock)
            return _while_waiting(option, inputs, waiting)
        return waiting
    return _reconcile_option(
        option, TransitInput(body=body, sxt=sxt, owner=owner, cpl=ready, ctx=ctx, clock=clock)
    )


def _while_waiting(option: TransitOption, inputs: TransitInput, waiting: Outcome) -> Outcome:
    """The referenced ConfluentPrivateLink exists but is not Ready yet (its endpoints are being created):
    create what needs nothing from it (`TransitOption.independent`), after the network preflight, so that
    it is not on the path from the endpoints to Ready. The pass still says it waits for the
    ConfluentPrivateLink (whose turning Ready wakes it); a failure here is the full pass's business."""
    assert option.independent is not None
    if preflight.needed(inputs.previous, inputs.generation) and _network_preflight(inputs) is not None:
        return waiting  # the full pass reports it, once the ConfluentPrivateLink is Ready
    try:
        resources = option.independent(inputs.sxt, inputs.owner.uid)
    except InvalidSpec:
        return waiting
    record = PassRecord()
    ensure_in_order(Arm(inputs.ctx), resources, OwnedBy(inputs.owner), record)
    waiting.events[:0] = record.events
    failure = record.failure
    if failure is not None and failure.retry_after is not None:
        # A server asked for a pause: the runtime must not come back sooner, whatever wakes the object
        # (the ConfluentPrivateLink turning Ready does, at once).
        waiting.failure = failure
    return waiting


# --- one pass of an option ----------------------------------------------------------------------------------


def _reconcile_option(option: TransitOption, inputs: TransitInput) -> Outcome:
    spec, ctx, owner = inputs.sxt.spec, inputs.ctx, inputs.owner
    assert inputs.cpl is not None
    generation = inputs.generation
    record = PassRecord()

    # 2. plan (pure) and the Databricks preflight (reads only): nothing is written before both pass.
    try:
        option_pass = option.start(inputs, build_transit_option_plan(inputs.sxt, cpl=inputs.cpl, uid=owner.uid))
        domain_names = rule_domain_names(inputs.cpl.spec.confluent, spec.databricks, status_name=spec.status_domain_name)
    except InvalidSpec as exc:
        message = str(exc) if exc.field else f"spec: {exc}"
        return outcome_with(inputs, cond.stalled(Reason.INVALID_SPEC, message, generation))
    if preflight.needed(inputs.previous, generation):
        early = _network_preflight(inputs)
        if early is not None:
            return early
    try:
        account_state = databricks.preflight(spec, owner.namespace, ctx, inputs.previous_ncc)
    except databricks.DatabricksProblem as problem:
        return outcome_with(inputs, problem.conditions(generation), requeue_after=problem.retry_after)
    except TransitError as exc:
        record.fail("Databricks account", exc)
        summary, requeue = decide(record, generation, "")
        return outcome_with(inputs, summary, requeue_after=requeue, failure=record.failure)

    # 3. the option's Azure resources -> the target of the NCC rule.
    target = option_pass.ensure_resources(record)

    # 4. Databricks: NCC, rule to the target, approval of exactly its connection, bindings.
    ncc_status = inputs.previous.ncc or NccStatus()
    established = False
    try:
        databricks_pass = databricks.reconcile_databricks(spec, account_state, target, domain_names=domain_names)
        ncc_status = databricks_pass.ncc
        established = databricks_pass.established
        record.writes += databricks_pass.writes
        record.events += databricks_pass.events
        if databricks_pass.failure is not None:
            record.failures.append(databricks_pass.failure)
        if databricks_pass.problem is not None:
            record.stall(databricks_pass.problem.reason, databricks_pass.problem.message)
        elif databricks_pass.waiting is not None:
            reason = Reason.WAITING_FOR_APPROVAL if target.ready else Reason.PROVISIONING
            record.wait(reason, databricks_pass.waiting, databricks_pass.requeue_after or timing.IN_FLIGHT)
    except TransitError as exc:
        record.fail("Databricks NCC", exc)

    # 5. what the option does after the Databricks side.
    report = option_pass.finish(record)

    # 6. status and conditions.
    fields: dict[str, Any] = {
        "private_link_resource_id": target.resource_id,
        "private_link_group_id": target.group_id,
        "backend_ips": report.backend_ips,
        "ncc": ncc_status,
        **report.fields,
    }
    summary, requeue = decide(record, generation, report.ready_message)
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
        inputs,
        [*summary, rule_established, *report.conditions],
        fields=fields,
        events=record.events,
        requeue_after=requeue,
        failure=record.failure,
    )


def _network_preflight(inputs: TransitInput) -> Outcome | None:
    """`reconcile.preflight` for the transit's subnets (and the gateway's static frontend IP): an outcome
    that writes nothing when something is missing or can never work; None when the pass may go on."""
    spec, generation = inputs.sxt.spec, inputs.generation
    static_ips = []
    if spec.application_gateway is not None:
        static_ips.append(
            preflight.StaticIp(
                "spec.applicationGateway.privateFrontendIp",
                spec.application_gateway.private_frontend_ip,
                "spec.network.frontendSubnetId",
            )
        )
    record = PassRecord()
    try:
        check = preflight.check_network(
            Arm(inputs.ctx),
            subnets=[
                ("spec.network.frontendSubnetId", spec.network.frontend_subnet_id),
                ("spec.network.privateLinkSubnetId", spec.network.private_link_subnet_id),
            ],
            static_ips=static_ips,
        )
    except TransitError as exc:
        record.fail("reading the network the spec names", exc)
        summary, requeue = decide(record, generation, "")
        return outcome_with(inputs, summary, requeue_after=requeue, failure=record.failure)
    if check.invalid:
        message = "; ".join(check.invalid)
        return outcome_with(inputs, cond.stalled(Reason.INVALID_SPEC, message, generation))
    if check.missing:
        message = "; ".join(check.missing)
        new = cond.reconciling(Reason.WAITING_FOR_DEPENDENCY, message, generation)
        failure = Failure(Reason.WAITING_FOR_DEPENDENCY, message, key=message, stall_after=None)
        return outcome_with(inputs, new, requeue_after=timing.PROPAGATION, failure=failure)
    return None
