"""The Databricks side of a ServerlessTransit, the same for both options (`haproxy`, `applicationGateway`).

    preflight()            reads only: the account client (credentials from the referenced Secret), the
                           workspaces, the NCC if it exists; refuses a region mismatch before anything is
                           created anywhere (the NCC must be in its workspaces' region)
    reconcile_databricks() NCC (create by name / adopt by id) -> private endpoint rule to the option's
                           target -> approve exactly that rule's connection on the target -> bind the
                           workspaces; reports where the rule's connection stands
    finalize_databricks()  delete the rule (Databricks keeps an ESTABLISHED one deactivated for a day),
                           and the NCC if we created it and nothing else uses it

The option supplies a `PrivateLinkTarget`: the resource id the rule targets (a Private Link Service, or an
Application Gateway with a `group_id`), a `ConnectionTarget` to approve on (`cloud.approval`), and whether
the target is provisioned (the rule is only created then: Databricks would fail it otherwise).

A rule whose connection was rejected or removed out of band is reported (`Stalled`), and replaced by a new
rule (a new endpoint, a new Pending connection we approve) only with `spec.databricks.reapproveRejected`:
Azure does not approve a rejected connection again. EXPIRED and CREATE_FAILED rules cannot recover either
and are replaced. Credentials never leave the client: not in status, events, messages or logs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from transit_operator.api.v1alpha1 import NccStatus, ServerlessTransitSpec
from transit_operator.cloud.approval import ConnectionTarget, EndpointConnection, ensure_connection_approved
from transit_operator.cloud.context import CloudContext
from transit_operator.cloud.databricks import DatabricksAccount, NccFacts, RuleFacts, WorkspaceFacts
from transit_operator.cloud.errors import HostNotAllowed, InvalidCredentials, SecretUnreadable
from transit_operator.plan.ncc import ncc_region
from transit_operator.reconcile import timing
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import Event, Failure
from transit_operator.reconcile.pass_record import Blocked

__all__ = [
    "DatabricksPass",
    "DatabricksProblem",
    "Preflight",
    "PrivateLinkTarget",
    "finalize_databricks",
    "preflight",
    "reconcile_databricks",
]


_UNRECOVERABLE = frozenset({"EXPIRED", "CREATE_FAILED"})
_DECIDED_AGAINST = {"REJECTED": "Rejected", "DISCONNECTED": "Disconnected"}


class DatabricksProblem(Blocked):
    """Something the user must fix before the Databricks side can proceed (`stalled`: a `Stalled`
    condition), or wait for (e.g. the credentials Secret does not exist yet)."""


@dataclass(frozen=True)
class PrivateLinkTarget:
    """What an option exposes to Databricks: the rule's target and where its connections are approved."""

    resource_id: str
    group_id: str | None
    connections: ConnectionTarget
    ready: bool  # provisioned: the rule may be created
    observed_connections: list[EndpointConnection] | None = None  # from a GET made anyway; None: list them


@dataclass(frozen=True)
class Preflight:
    account: DatabricksAccount
    region: str  # the NCC's region (the adopted NCC's own, or spec/azure.location)
    ncc: NccFacts | None  # the NCC if it exists already
    workspaces: tuple[WorkspaceFacts, ...]


@dataclass
class DatabricksPass:
    """What the Databricks side did in one pass and where it stands."""

    ncc: NccStatus  # status.ncc
    established: bool = False
    waiting: str | None = None  # why not established yet (Reconciling)
    problem: DatabricksProblem | None = None  # decided against out of band (Stalled)
    requeue_after: float | None = None
    writes: int = 0
    events: list[Event] = field(default_factory=list)
    failure: Failure | None = None  # a rule replaced because it failed: the runtime backs off


def account_for(spec: ServerlessTransitSpec, namespace: str, ctx: CloudContext) -> DatabricksAccount:
    """The account client; the Secret is read through `ctx.read_secret` (the runtime's Kubernetes client,
    or a test's dict) and handed to the client only."""
    databricks = spec.databricks
    secret: Mapping[str, str | bytes] | None = None
    source = "the operator's credentials"
    if databricks.credentials_secret_ref is not None:
        name = databricks.credentials_secret_ref.name
        source = f"Secret {namespace}/{name}"
        reader = ctx.read_secret
        if reader is None:
            raise DatabricksProblem(
                Reason.INVALID_SPEC,
                f"spec.databricks.credentialsSecretRef names Secret {name!r} but this operator cannot read "
                "Secrets (no secret reader configured)",
            )
        try:
            secret = reader(namespace, name)
        except KeyError:
            secret = None
        except SecretUnreadable as exc:
            raise DatabricksProblem(
                Reason.WAITING_FOR_DEPENDENCY,
                f"Secret {namespace}/{name} (spec.databricks.credentialsSecretRef) cannot be read: {exc}",
                retry_after=timing.PROPAGATION,
            ) from exc
        if secret is None:
            raise DatabricksProblem(
                Reason.WAITING_FOR_DEPENDENCY,
                f"Secret {namespace}/{name} (spec.databricks.credentialsSecretRef) does not exist",
                retry_after=timing.SECRET_MISSING,
            )
    try:
        client = ctx.databricks(databricks.account_host, databricks.account_id, secret, source=source)
    except HostNotAllowed as exc:  # an operator flag or a spec change fixes it: both re-run the pass
        raise DatabricksProblem(Reason.INVALID_SPEC, str(exc)) from exc
    except InvalidCredentials as exc:  # names the Secret and the key, never the value
        raise DatabricksProblem(
            Reason.INVALID_CREDENTIALS, f"Databricks credentials: {exc}", retry_after=timing.PROPAGATION, stalled=True
        ) from exc
    return DatabricksAccount(client)


def preflight(
    spec: ServerlessTransitSpec, namespace: str, ctx: CloudContext, previous: NccStatus | None
) -> Preflight:
    """Reads only. Raises `DatabricksProblem` for a region mismatch or a missing adopted NCC; SDK errors
    propagate (the caller classifies them)."""
    account = account_for(spec, namespace, ctx)
    ncc_spec = spec.databricks.ncc
    region = ncc_region(spec.databricks, spec.azure.location)
    ncc: NccFacts | None
    if ncc_spec.id is not None:
        ncc = account.observe_ncc(ncc_id=ncc_spec.id)
        if ncc is None:
            raise DatabricksProblem(
                Reason.INVALID_SPEC,
                f"spec.databricks.ncc.id: NCC {ncc_spec.id} does not exist in the account",
            )
        region = ncc.region
    else:
        known = previous.id if previous is not None else None
        ncc = account.observe_ncc(ncc_id=known, name=ncc_spec.name, region=region)
        if ncc is not None and (ncc.name != ncc_spec.name or ncc.region != region):
            ncc = account.observe_ncc(name=ncc_spec.name, region=region)
    workspaces = tuple(account.observe_workspace(w) for w in sorted(set(spec.databricks.workspace_ids)))
    mismatched = [w for w in workspaces if w.region and w.region != region]
    if mismatched:
        listed = ", ".join(f"{w.workspace_id} ({w.region})" for w in mismatched)
        source = (
            "the adopted NCC's region"
            if ncc_spec.id
            else "spec.databricks.ncc.region (or spec.azure.location)"
        )
        raise DatabricksProblem(
            Reason.REGION_MISMATCH,
            f"the NCC must be in its workspaces' region: {source} is {region}, but workspaces {listed} are not",
        )
    return Preflight(account, region, ncc, workspaces)


def _ncc_status(
    ncc: NccFacts | None, rule: RuleFacts | None, workspaces: Sequence[WorkspaceFacts], bound: set[int]
) -> NccStatus:
    return NccStatus(
        id=ncc.id if ncc else None,
        rule_id=rule.rule_id if rule else None,
        endpoint_name=rule.endpoint_name if rule else None,
        connection_state=rule.connection_state if rule else None,
        domain_names=sorted(rule.domain_names) if rule else [],
        workspace_ids=sorted(w.workspace_id for w in workspaces if w.workspace_id in bound),
    )


def reconcile_databricks(
    spec: ServerlessTransitSpec,
    account_state: Preflight,
    target: PrivateLinkTarget,
    *,
    domain_names: Sequence[str],
) -> DatabricksPass:
    """Drive NCC, rule, approval and bindings one step; at most one write per object."""
    account = account_state.account
    events: list[Event] = []
    writes = 0
    ncc = account_state.ncc
    if ncc is None:
        assert spec.databricks.ncc.name is not None  # adopt-by-id without an NCC raised in preflight
        ncc, wrote = account.ensure_ncc(name=spec.databricks.ncc.name, region=account_state.region)
        if wrote == "created":
            writes += 1
            events.append(Event("Normal", "NccCreated", f"created NCC {ncc.name} ({ncc.id}) in {ncc.region}"))

    bound = {w.workspace_id for w in account_state.workspaces if w.ncc_id == ncc.id}
    for workspace in account_state.workspaces:
        if account.bind_workspace(workspace, ncc.id):
            writes += 1
            bound.add(workspace.workspace_id)
            previously = f" (was bound to NCC {workspace.ncc_id})" if workspace.ncc_id else ""
            events.append(
                Event(
                    "Normal",
                    "WorkspaceBound",
                    f"bound workspace {workspace.workspace_id} to NCC {ncc.id}{previously}",
                )
            )

    def result(rule: RuleFacts | None, **kwargs: Any) -> DatabricksPass:
        status = _ncc_status(ncc, rule, account_state.workspaces, bound)
        return DatabricksPass(status, writes=writes, events=events, **kwargs)

    if not target.ready:
        return result(
            account.observe_rule(ncc.id, target.resource_id),
            waiting=f"the private endpoint rule waits for {target.resource_id} to be provisioned",
            requeue_after=timing.RULE_PROGRESS,
        )

    rule, wrote = account.ensure_rule(
        ncc.id, resource_id=target.resource_id, domain_names=domain_names, group_id=target.group_id
    )
    if wrote != "none":
        writes += 1
        verb = "created" if wrote == "created" else "updated the domain names of"
        events.append(
            Event("Normal", "NccRuleChanged", f"{verb} private endpoint rule {rule.rule_id} on NCC {ncc.id}")
        )
    state = rule.connection_state or "CREATING"

    def replace(why: str, key: str) -> DatabricksPass:
        # Replacing is the only way out of these states, and a replacement can fail the same way (a target
        # Databricks cannot reach): the `failure` lets the runtime space the attempts out and stall.
        nonlocal writes
        account.delete_rule(ncc.id, rule.rule_id)
        writes += 1
        events.append(
            Event("Warning", "NccRuleReplaced", f"deleted private endpoint rule {rule.rule_id}: {why}")
        )
        failure = Failure(Reason.NCC_RULE_FAILED, f"NCC private endpoint rule replaced: {why}", key=key)
        return result(
            None,
            waiting=f"replacing the private endpoint rule: {why}",
            requeue_after=timing.RULE_REPLACED,
            failure=failure,
        )

    if state in _UNRECOVERABLE:
        detail = f" ({rule.error_message})" if rule.error_message else ""
        return replace(f"its state is {state}{detail}", key=f"NCC rule {state}{detail}")
    if state in _DECIDED_AGAINST:
        if spec.databricks.reapprove_rejected:
            return replace(
                f"its connection was {state.lower()} out of band and spec.databricks.reapproveRejected is set",
                key=f"NCC rule {state}",
            )
        reason = Reason.CONNECTION_REJECTED if state == "REJECTED" else Reason.CONNECTION_DISCONNECTED
        return result(rule, problem=DatabricksProblem(reason, _decided_message(rule, state)))
    if state == "ESTABLISHED":
        return result(rule, established=True)
    if state == "PENDING" and rule.endpoint_name:
        approval = ensure_connection_approved(
            target.connections, rule.endpoint_name, connections=target.observed_connections
        )
        if approval.approved_now:
            writes += 1
            assert approval.connection is not None
            events.append(
                Event(
                    "Normal",
                    "ConnectionApproved",
                    f"approved private endpoint connection {approval.connection.name} of NCC rule {rule.rule_id}",
                )
            )
        if approval.state in ("Rejected", "Disconnected"):
            if spec.databricks.reapprove_rejected:
                return replace(approval.message, key=f"NCC rule connection {approval.state}")
            reason = (
                Reason.CONNECTION_REJECTED if approval.state == "Rejected" else Reason.CONNECTION_DISCONNECTED
            )
            return result(rule, problem=DatabricksProblem(reason, approval.message))
        waiting = (
            "approved the rule's connection; waiting for Databricks to report ESTABLISHED"
            if approval.state == "Approved"
            else approval.message
        )
        return result(rule, waiting=waiting, requeue_after=timing.RULE_PROGRESS)
    return result(rule, waiting=f"the private endpoint rule is {state}", requeue_after=timing.RULE_PROGRESS)


def _decided_message(rule: RuleFacts, state: str) -> str:
    return (
        f"the connection of NCC private endpoint rule {rule.rule_id} (endpoint {rule.endpoint_name}) is {state}: "
        "someone decided against it on the target; set spec.databricks.reapproveRejected: true to replace the "
        "rule with a new one that the operator approves"
    )


@dataclass
class DatabricksFinalize:
    rule_gone: bool  # no live rule to the target remains (deleted, or deactivated by Databricks)
    endpoint_name: str | None  # the rule's endpoint: its connection on the target is ours to remove
    writes: int = 0
    events: list[Event] = field(default_factory=list)


def finalize_databricks(
    spec: ServerlessTransitSpec,
    namespace: str,
    ctx: CloudContext,
    previous: NccStatus | None,
    *,
    resource_id: str,
    delete_ncc: bool,
) -> DatabricksFinalize:
    """Delete our rule; with `delete_ncc`, also the NCC if created by name here, with no other rule and no
    workspace bound (Databricks has no way to detach an NCC from a workspace: UNCONFIRMED; the emulator
    refuses to delete a bound one)."""
    account = account_for(spec, namespace, ctx)
    ncc_spec = spec.databricks.ncc
    known = ncc_spec.id or (previous.id if previous else None)
    region = ncc_region(spec.databricks, spec.azure.location)
    ncc = account.observe_ncc(ncc_id=known, name=ncc_spec.name, region=None if ncc_spec.id else region)
    if ncc is None:
        return DatabricksFinalize(True, previous.endpoint_name if previous else None)
    events: list[Event] = []
    writes = 0
    rules = account.list_rules(ncc.id)
    ours = [r for r in rules if r.resource_id.lower() == resource_id.lower() and not r.deactivated]
    endpoint_name = ours[-1].endpoint_name if ours else previous.endpoint_name if previous else None
    for rule in ours:
        account.delete_rule(ncc.id, rule.rule_id)
        writes += 1
        events.append(Event("Normal", "NccRuleDeleted", f"deleted private endpoint rule {rule.rule_id}"))
    if delete_ncc and ncc_spec.name is not None:
        others = [r for r in rules if r.resource_id.lower() != resource_id.lower() and not r.deactivated]
        bound = [w for w in spec.databricks.workspace_ids if account.observe_workspace(w).ncc_id == ncc.id]
        if others or bound:
            why = (
                f"workspaces {sorted(bound)} are bound to it"
                if bound
                else f"{len(others)} other rules use it"
            )
            events.append(Event("Normal", "NccKept", f"kept NCC {ncc.name} ({ncc.id}): {why}"))
        elif account.delete_ncc(ncc.id):
            writes += 1
            events.append(Event("Normal", "NccDeleted", f"deleted NCC {ncc.name} ({ncc.id})"))
    return DatabricksFinalize(True, endpoint_name, writes, events)
