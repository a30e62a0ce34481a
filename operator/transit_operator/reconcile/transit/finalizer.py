"""ServerlessTransit `finalize`: `deletionPolicy` on delete (see the package docstring)."""

from __future__ import annotations

from typing import Any

from transit_operator.api.v1alpha1 import ServerlessTransit, ServerlessTransitStatus
from transit_operator.cloud.arm import Arm
from transit_operator.cloud.context import CloudContext
from transit_operator.cloud.errors import TransitError
from transit_operator.plan.ownership import owner_of_object
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile import timing
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import Event, Outcome
from transit_operator.reconcile.ownership import OwnedBy
from transit_operator.reconcile.pass_record import Clock, deleting_failed, previous_status, utcnow, validated
from transit_operator.reconcile.transit import databricks
from transit_operator.reconcile.transit.option import Teardown, TransitInput, TransitOption, outcome_with
from transit_operator.reconcile.transit.registry import OPTIONS

__all__ = ["finalize"]


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


def _finalize_option(option: TransitOption, inputs: TransitInput) -> Outcome:
    spec, owner = inputs.sxt.spec, inputs.owner
    generation = inputs.generation
    arm = Arm(inputs.ctx)
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
            return outcome_with(inputs, new, events=events, done=True)
        done = _delete_all(option, inputs, arm, owned_by, events)
    except TransitError as exc:
        return deleting_failed(inputs.previous, generation, exc, inputs.clock(), events=events)
    message = "cloud resources deleted" if done else "Delete: waiting for deletions to finish"
    return outcome_with(
        inputs,
        cond.reconciling(Reason.DELETING, message, generation),
        events=events,
        requeue_after=None if done else timing.IN_FLIGHT,
        done=done,
    )


def _delete_all(
    option: TransitOption, inputs: TransitInput, arm: Arm, owned_by: OwnedBy, events: list[Event]
) -> bool:
    """NCC rule -> the option's resources -> NCC; each layer once the one above is gone."""
    spec, owner = inputs.sxt.spec, inputs.owner
    target_id = option.private_link_id(spec, owner)
    # The rule first: its endpoint's connection keeps the target from being deleted.
    removal = databricks.finalize_databricks(
        spec, owner.namespace, inputs.ctx, inputs.previous_ncc, resource_id=target_id, delete_ncc=False
    )
    events += removal.events
    if not option.delete(Teardown(inputs, arm, owned_by, removal.endpoint_name, events)):
        return False
    last = databricks.finalize_databricks(
        spec, owner.namespace, inputs.ctx, inputs.previous_ncc, resource_id=target_id, delete_ncc=True
    )
    events += last.events
    return True
