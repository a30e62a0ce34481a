"""ServerlessTransit: validate, wait for the ConfluentPrivateLink, dispatch on `spec.option`.

    reconcile(body, cpl, ctx) -> Outcome     `cpl` is the referenced ConfluentPrivateLink as a dict (the
                                             runtime's index lookup), or None when it does not exist
    finalize(body, ctx) -> Outcome

What is option-independent lives here and in `reconcile.ncc` (NCC, rule, approval, bindings) and
`reconcile.transit_common` (status assembly); each option is one module with `reconcile(TransitInput)` and
`finalize(TransitInput)`, registered in `OPTIONS`.

An invalid body is `Stalled` with reason `InvalidSpec` and the camelCase field path; nothing is read or
written in the cloud. A ConfluentPrivateLink that is missing, invalid or not Ready is waited for
(`Reconciling`, `WaitingForDependency`, requeue): its endpoint IPs are the transit's backends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from transit_operator.api.v1alpha1 import ConfluentPrivateLink, ServerlessTransit
from transit_operator.cloud.context import CloudContext
from transit_operator.plan.confluent import owner_of_object
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile import transit_appgw, transit_haproxy
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import Event, Outcome
from transit_operator.reconcile.transit_common import Clock, TransitInput, field_path, outcome_with, utcnow

__all__ = ["OPTIONS", "finalize", "reconcile"]

OptionHandler = Callable[[TransitInput], Outcome]

# spec.option -> (reconcile, finalize). One line per option.
OPTIONS: dict[str, tuple[OptionHandler, OptionHandler]] = {
    "haproxy": (transit_haproxy.reconcile, transit_haproxy.finalize),
    "applicationGateway": (transit_appgw.reconcile, transit_appgw.finalize),
}

# While the ConfluentPrivateLink is missing or not Ready: look again this often (its own changes also
# trigger the runtime, through the index).
DEPENDENCY_REQUEUE = 15.0


def _model_input(body: Mapping[str, Any]) -> dict[str, Any]:
    # status is observed state, not validated here (older operator versions may have written other fields).
    return {k: body[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in body}


def _validated(body: Mapping[str, Any]) -> ServerlessTransit | str:
    try:
        return ServerlessTransit.model_validate(_model_input(body))
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        message = f"{field_path(first['loc'])}: {first['msg'].removeprefix('Value error, ')}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more)"
        return message


def _bare_input(body: Mapping[str, Any], ctx: CloudContext, clock: Clock) -> TransitInput:
    """For outcomes before the body validated: only generation/previous status are used."""
    return TransitInput(body=body, sxt=None, owner=None, cpl=None, ctx=ctx, clock=clock)  # type: ignore[arg-type]


def _ready_cpl(cpl: Mapping[str, Any] | None, name: str, namespace: str) -> ConfluentPrivateLink | str:
    key = f"ConfluentPrivateLink {namespace}/{name}"
    if cpl is None:
        return f"{key} does not exist"
    try:
        model = ConfluentPrivateLink.model_validate({**_model_input(cpl), "status": cpl.get("status")})
    except ValidationError as exc:
        return f"{key} is invalid: {field_path(exc.errors()[0]['loc'])}"
    conditions = [c.model_dump(by_alias=True) for c in (model.status.conditions if model.status else [])]
    if not cond.is_true(conditions, cond.READY):
        ready = cond.find(conditions, cond.READY) or {}
        detail = f": {ready.get('reason')}: {ready.get('message')}" if ready else ""
        return f"{key} is not Ready{detail}"
    return model


def reconcile(
    body: dict[str, Any], cpl: dict[str, Any] | None, ctx: CloudContext, *, clock: Clock = utcnow
) -> Outcome:
    """One level-based pass; returns the complete status to write and when to look again."""
    generation = (body.get("metadata") or {}).get("generation")
    sxt = _validated(body)
    if isinstance(sxt, str):
        bare = _bare_input(body, ctx, clock)
        return outcome_with(
            bare,
            cond.stalled(Reason.INVALID_SPEC, sxt, generation),
            events=[Event("Warning", Reason.INVALID_SPEC, sxt)],
        )
    owner = owner_of_object(sxt, uid=(body.get("metadata") or {}).get("uid"))
    handlers = OPTIONS.get(sxt.spec.option)
    if handlers is None:
        message = f"spec.option: {sxt.spec.option!r} is not supported by this operator build"
        return outcome_with(
            _bare_input(body, ctx, clock), cond.stalled(Reason.INVALID_SPEC, message, generation)
        )
    ready = _ready_cpl(cpl, sxt.spec.confluent_private_link_ref.name, owner.namespace)
    if isinstance(ready, str):
        return outcome_with(
            _bare_input(body, ctx, clock),
            cond.reconciling(Reason.WAITING_FOR_DEPENDENCY, f"waiting: {ready}", generation),
            requeue_after=DEPENDENCY_REQUEUE,
        )
    return handlers[0](TransitInput(body=body, sxt=sxt, owner=owner, cpl=ready, ctx=ctx, clock=clock))


def finalize(body: dict[str, Any], ctx: CloudContext, *, clock: Clock = utcnow) -> Outcome:
    """Delete or release (per `deletionPolicy`) everything this object owns; `done` once nothing is left.

    An invalid spec cannot tell what is ours: the cloud is left as is and the finalizer released, with a
    Warning event."""
    sxt = _validated(body)
    if isinstance(sxt, str):
        return Outcome(
            status=dict(body.get("status") or {}),
            done=True,
            events=[Event("Warning", "NothingReleased", f"invalid spec ({sxt}): cloud resources left as is")],
        )
    owner = owner_of_object(sxt, uid=(body.get("metadata") or {}).get("uid"))
    handlers = OPTIONS.get(sxt.spec.option)
    if handlers is None:
        return Outcome(status=dict(body.get("status") or {}), done=True)
    return handlers[1](TransitInput(body=body, sxt=sxt, owner=owner, cpl=None, ctx=ctx, clock=clock))
