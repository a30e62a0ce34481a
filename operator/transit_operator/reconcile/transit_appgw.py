"""ServerlessTransit, `option: applicationGateway`: drive the App Gateway transit to its plan.

One pass (`reconcile`), level-based, never blocking:

    1. validate the transit (and the referenced ConfluentPrivateLink)   invalid -> Stalled/InvalidSpec
    2. ensure the public IP and the gateway subnet's NSG                 (one GET each; a PUT only on a difference)
    3. associate the NSG with the gateway subnet                         (one GET; a subnet PUT only when unset)
    4. ensure the Application Gateway                                    (one GET; one full PUT on a difference)
       The PUT is started with `polling=False`: App Gateway takes ~20 minutes in Azure, so the pass returns
       `requeue_after` and the next one reads `provisioningState` (Updating -> nothing, Succeeded -> go on).
       An endpoint IP change is a change of the backend pool only, so exactly one gateway PUT.
    5. Databricks: the NCC (created by name or adopted by id); once the gateway has provisioned, the private
       endpoint rule to the gateway's id with `group_id` = the private frontend's name; while the rule is
       PENDING, approve exactly its connection on the gateway (`begin_update`, an LRO, not awaited); wait for
       ESTABLISHED (a retry with a reason, never a sleep); bind the workspaces.
    6. status: privateLinkResourceId/GroupId, backendIps (as the gateway has them), ncc, conditions
       (Ready/Reconciling/Stalled + NccRuleEstablished) and when to come back.

`finalize` honours `deletionPolicy`: `Delete` removes the NCC rule, then the gateway, then (once it is gone)
detaches the NSG from the subnet and deletes the NSG and the public IP; the NCC itself is kept (it is
account-level and workspaces may be bound to it). `Orphan` removes only our ownership tags. Objects not
tagged as ours are never deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from transit_operator.api.v1alpha1 import ConfluentPrivateLink, ServerlessTransit
from transit_operator.cloud.approval import ApplicationGatewayTarget, ensure_connection_approved
from transit_operator.cloud.arm import Arm, EnsureResult, provisioning_state
from transit_operator.cloud.context import CloudContext
from transit_operator.cloud.databricks import DatabricksAccount, RuleFacts
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
from transit_operator.plan.confluent import owner_of_object
from transit_operator.plan.ids import NETWORK_SECURITY_GROUPS, parse_resource_id, same_id
from transit_operator.plan.ncc import ncc_region
from transit_operator.plan.ownership import Owner
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import Event, Outcome
from transit_operator.reconcile.ownership import OwnedBy

__all__ = ["finalize", "reconcile"]

Clock = Callable[[], datetime]
MAX_RETRY_DELAY = 300.0
# Polls of a gateway LRO are spaced wider than other resources': it takes ~20 minutes (transit.md rule 9)
# and every GET counts against the Network read budget (rule 13).
GATEWAY_POLL_FACTOR = 6.0

ESTABLISHED = "ESTABLISHED"
WAITING_RULE_STATES = {"INIT", "CREATING"}
BROKEN_RULE_STATES = {
    "REJECTED": Reason.CONNECTION_REJECTED,
    "DISCONNECTED": Reason.CONNECTION_DISCONNECTED,
    "EXPIRED": Reason.CONNECTION_DISCONNECTED,
    "CREATE_FAILED": Reason.CLOUD_ERROR,
}
# Subnet fields Azure computes; left out of the PUT that sets the NSG (Azure ignores them, but they are
# not ours to send back).
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


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- one pass's bookkeeping -------------------------------------------------------------------------------


@dataclass
class _Pass:
    """What one pass saw and did; turned into conditions, events and a requeue delay at the end."""

    in_flight: list[str] = field(default_factory=list)
    slow_in_flight: bool = False  # the gateway itself is being written
    waiting: list[tuple[Reason, str]] = field(default_factory=list)
    broken: list[tuple[Reason, str]] = field(default_factory=list)
    errors: list[tuple[str, Classified]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    writes: int = 0

    def note(self, what: str, result: EnsureResult) -> None:
        if result.wrote:
            self.writes += 1
            verb = {"Started": "Created", "Adopted": "Adopted", "Updated": "Updated"}[result.action]
            self.events.append(Event("Normal", verb, f"{verb} {what}"))
        if result.in_flight:
            self.in_flight.append(what)

    def fail(self, what: str, exc: BaseException) -> None:
        self.errors.append((what, classify(exc)))

    def wrote(self, reason: str, message: str) -> None:
        self.writes += 1
        self.events.append(Event("Normal", reason, message))


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    message = f"{_field_path(first['loc'])}: {first['msg']}"
    more = len(exc.errors()) - 1
    return message + (f" (and {more} more)" if more else "")


def _model(body: Mapping[str, Any], with_status: bool = False) -> dict[str, Any]:
    keys = ("apiVersion", "kind", "metadata", "spec") + (("status",) if with_status else ())
    return {k: body[k] for k in keys if k in body and body[k] is not None}


def _reason_of(classified: Classified) -> Reason:
    if classified.code == "OwnershipConflict":
        return Reason.OWNERSHIP_CONFLICT
    return Reason.TRANSIENT_ERROR if classified.retryable else Reason.CLOUD_ERROR


def _soon(ctx: CloudContext) -> float:
    return max(float(ctx.polling_interval), 1.0)


# --- reconcile ----------------------------------------------------------------------------------------------


def reconcile(
    body: dict[str, Any],
    cpl: dict[str, Any] | None,
    ctx: CloudContext,
    *,
    clock: Clock = _utcnow,
    secret: Mapping[str, str | bytes] | None = None,
) -> Outcome:
    """One level-based pass for a ServerlessTransit with `option: applicationGateway`.

    `cpl` is the referenced ConfluentPrivateLink's whole body (its status holds the endpoint IPs), or None.
    `secret` is the data of `spec.databricks.credentialsSecretRef`, when there is one.
    """
    metadata = body.get("metadata") or {}
    generation = metadata.get("generation")
    previous: dict[str, Any] = dict(body.get("status") or {})
    previous_conditions = previous.get("conditions") or []
    try:
        sxt = ServerlessTransit.model_validate(_model(body))
    except ValidationError as exc:
        message = _validation_message(exc)
        status = _status(
            previous, generation, cond.stalled(Reason.INVALID_SPEC, message, generation), clock()
        )
        return Outcome(status=status, events=[Event("Warning", Reason.INVALID_SPEC, message)])
    run = _Pass()
    cpl_model: ConfluentPrivateLink | None = None
    cpl_name = f"{metadata.get('namespace') or 'default'}/{sxt.spec.confluent_private_link_ref.name}"
    if cpl is None:
        run.waiting.append((Reason.WAITING_FOR_DEPENDENCY, f"ConfluentPrivateLink {cpl_name} not found"))
    else:
        try:
            cpl_model = ConfluentPrivateLink.model_validate(_model(cpl, with_status=True))
        except ValidationError as exc:
            run.waiting.append(
                (
                    Reason.WAITING_FOR_DEPENDENCY,
                    f"ConfluentPrivateLink {cpl_name} is invalid: {_validation_message(exc)}",
                )
            )

    owner = owner_of_object(sxt, uid=metadata.get("uid"))
    rule = OwnedBy(owner)
    arm = Arm(ctx)
    plan = build_appgw_transit_plan(sxt, cpl=cpl_model, uid=owner.uid)
    public_ip = plan.resources_of_type(PUBLIC_IP_ADDRESSES)[0]
    nsg = plan.resources_of_type(NETWORK_SECURITY_GROUPS)[0]
    gateway = plan.resources_of_type(APPLICATION_GATEWAYS)[0]

    # 2-3: what the gateway references must exist before it is PUT (Azure refuses references to missing ones).
    prerequisites_ok = True
    for resource, what in (
        (public_ip, f"public IP {public_ip.name}"),
        (nsg, f"network security group {nsg.name}"),
    ):
        try:
            result = arm.ensure(resource, rule)
            run.note(what, result)
            prerequisites_ok = prerequisites_ok and result.settled and result.action != "Started"
        except CloudError as exc:
            run.fail(what, exc)
            prerequisites_ok = False
    if prerequisites_ok:
        prerequisites_ok = _ensure_subnet_nsg(ctx, arm, sxt.spec.network.frontend_subnet_id, nsg.id, run)

    # 4: the gateway.
    observed_gateway: dict[str, Any] | None = None
    gateway_what = f"application gateway {gateway.name}"
    if prerequisites_ok:
        try:
            result = arm.ensure(gateway, rule)
            run.note(gateway_what, result)
            observed_gateway = result.observed
            if result.in_flight:
                run.slow_in_flight = True
            state = (provisioning_state(observed_gateway) or "").lower()
            if result.settled and not result.wrote and state == "failed":
                run.broken.append((Reason.PROVISIONING_FAILED, f"{gateway_what}: provisioningState Failed"))
        except CloudError as exc:
            run.fail(gateway_what, exc)
    else:
        run.waiting.append((Reason.PROVISIONING, f"{gateway_what} waits for its public IP, NSG and subnet"))
    if observed_gateway is None and not prerequisites_ok:
        try:
            observed_gateway = arm.observe(gateway.id)
        except CloudError:
            observed_gateway = None
    gateway_provisioned = (provisioning_state(observed_gateway) or "").lower() == "succeeded" or bool(
        (previous.get("ncc") or {}).get("ruleId")
    )

    # 5: Databricks.
    ncc_status = _reconcile_databricks(
        ctx,
        sxt,
        plan_rule=_rule_body(plan),
        gateway_id=gateway.id,
        gateway_ready=gateway_provisioned,
        previous=previous.get("ncc") or {},
        secret=secret,
        run=run,
    )

    backend_ips = _pool_ips(observed_gateway)
    if cpl_model is not None and not backend_ips and not run.in_flight:
        run.waiting.append(
            (Reason.WAITING_FOR_DEPENDENCY, f"no Approved endpoint IP in ConfluentPrivateLink {cpl_name} yet")
        )
    summary, requeue = _summary(run, ncc_status, generation, ctx)
    rule_condition = _rule_condition(ncc_status, run, generation)
    status = _status(previous, generation, [*summary, rule_condition], clock())
    status.update(
        privateLinkResourceId=gateway.id,
        privateLinkGroupId=PRIVATE_FRONTEND_NAME,
        backendIps=backend_ips,
        ncc=ncc_status,
    )
    events = run.events + _error_events(previous_conditions, summary)
    if (
        ncc_status.get("connectionState") == ESTABLISHED
        and (previous.get("ncc") or {}).get("connectionState") != ESTABLISHED
    ):
        events.append(Event("Normal", "Established", f"NCC rule {ncc_status.get('ruleId')} is ESTABLISHED"))
    return Outcome(status=status, requeue_after=requeue, events=events)


def _rule_body(plan: Any) -> dict[str, Any] | None:
    for action in plan.databricks:
        if action.type == "privateEndpointRule":
            return dict(action.body)
    return None


def _pool_ips(gateway: Mapping[str, Any] | None) -> list[str]:
    """The IPs the gateway forwards to, as Azure reports them (not as we wish them)."""
    props = (gateway or {}).get("properties") or {}
    for pool in props.get("backendAddressPools") or []:
        if str(pool.get("name", "")).lower() == BACKEND_POOL_NAME:
            addresses = (pool.get("properties") or {}).get("backendAddresses") or []
            return [str(a["ipAddress"]) for a in addresses if a.get("ipAddress")]
    return []


def _ensure_subnet_nsg(ctx: CloudContext, arm: Arm, subnet_id: str, nsg_id: str, run: _Pass) -> bool:
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
    ctx: CloudContext, subnet_id: str, subnet: Mapping[str, Any], nsg_id: str | None, run: _Pass, what: str
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
    run.wrote(verb, f"{verb} network security group {'with' if nsg_id else 'from'} {what}")
    run.in_flight.append(f"{what} (NSG association)")


# --- Databricks -----------------------------------------------------------------------------------------


def _reconcile_databricks(
    ctx: CloudContext,
    sxt: ServerlessTransit,
    *,
    plan_rule: dict[str, Any] | None,
    gateway_id: str,
    gateway_ready: bool,
    previous: Mapping[str, Any],
    secret: Mapping[str, str | bytes] | None,
    run: _Pass,
) -> dict[str, Any]:
    """NCC, rule, approval, bindings. Returns the `status.ncc` block."""
    spec = sxt.spec.databricks
    region = ncc_region(spec, sxt.spec.azure.location)
    status: dict[str, Any] = {
        "id": previous.get("id"),
        "ruleId": previous.get("ruleId"),
        "endpointName": previous.get("endpointName"),
        "connectionState": previous.get("connectionState"),
        "domainNames": list(previous.get("domainNames") or []),
        "workspaceIds": list(previous.get("workspaceIds") or []),
    }
    try:
        account = DatabricksAccount(ctx.databricks(spec.account_host, spec.account_id, secret))
        if spec.ncc.name is not None:
            ncc, write = account.ensure_ncc(name=spec.ncc.name, region=region, known_id=status["id"])
            if write != "none":
                run.wrote("Created", f"Created NCC {ncc.name} ({ncc.id}) in {region}")
        else:
            found = account.observe_ncc(ncc_id=spec.ncc.id)
            if found is None:
                run.errors.append(
                    ("NCC", Classified(False, "NotFound", f"NCC {spec.ncc.id} does not exist in the account"))
                )
                return status
            ncc = found
        status["id"] = ncc.id
    except Exception as exc:
        run.fail("Databricks NCC", exc)
        return status

    found_rule: RuleFacts | None = None
    if plan_rule is None:
        pass  # the CPL is missing: `waiting` already says so
    elif not gateway_ready:
        run.waiting.append(
            (Reason.PROVISIONING, "the NCC private endpoint rule waits for the gateway to provision")
        )
    else:
        try:
            found_rule, write = account.ensure_rule(
                ncc.id,
                resource_id=gateway_id,
                domain_names=plan_rule.get("domain_names") or [],
                group_id=plan_rule.get("group_id"),
            )
            if write != "none":
                run.wrote(
                    "Created" if write == "created" else "Updated",
                    f"{write.capitalize()} NCC private endpoint rule {found_rule.rule_id} to {gateway_id.rsplit('/', 1)[-1]}"
                    f" (group id {PRIVATE_FRONTEND_NAME})",
                )
        except Exception as exc:
            run.fail("NCC private endpoint rule", exc)
    if found_rule is not None:
        status.update(
            ruleId=found_rule.rule_id,
            endpointName=found_rule.endpoint_name,
            connectionState=found_rule.connection_state,
            domainNames=list(found_rule.domain_names),
        )
        _drive_rule(ctx, sxt, account, ncc.id, found_rule, gateway_id, run)

    bound: list[int] = []
    for workspace_id in sorted(set(spec.workspace_ids)):
        what = f"workspace {workspace_id}"
        try:
            workspace = account.observe_workspace(workspace_id)
            if workspace.region and workspace.region != ncc.region:
                run.errors.append(
                    (
                        what,
                        Classified(
                            False,
                            "RegionMismatch",
                            f"{what} is in {workspace.region}; the NCC is in {ncc.region}",
                        ),
                    )
                )
                continue
            if account.bind_workspace(workspace, ncc.id):
                run.wrote("Bound", f"Bound {what} to NCC {ncc.id}")
            bound.append(workspace_id)
        except Exception as exc:
            run.fail(what, exc)
    status["workspaceIds"] = bound
    return status


def _drive_rule(
    ctx: CloudContext,
    sxt: ServerlessTransit,
    account: DatabricksAccount,
    ncc_id: str,
    found: RuleFacts,
    gateway_id: str,
    run: _Pass,
) -> None:
    """PENDING: approve our connection on the gateway; broken: report (or replace when the spec says so)."""
    state = (found.connection_state or "").upper()
    reapprove = sxt.spec.databricks.reapprove_rejected
    if state == ESTABLISHED:
        return
    if state in WAITING_RULE_STATES or (not found.endpoint_name and state == "PENDING"):
        run.waiting.append((Reason.PROVISIONING, f"NCC rule {found.rule_id} is {state or 'being created'}"))
        return
    if state == "PENDING":
        parsed = parse_resource_id(gateway_id)
        target = ApplicationGatewayTarget(
            ctx.network(parsed.subscription_id), parsed.resource_group, parsed.name, gateway_id
        )
        try:
            approval = ensure_connection_approved(target, str(found.endpoint_name))
        except Exception as exc:
            run.fail("approval of the NCC rule's connection", exc)
            return
        if approval.approved_now:
            run.wrote(
                "Approved",
                f"Approved private endpoint connection {approval.connection.name if approval.connection else '?'}"
                f" of NCC rule {found.rule_id} on the gateway",
            )
            run.in_flight.append("approval of the NCC rule's connection")
        elif approval.state == "NotFound":
            run.waiting.append((Reason.WAITING_FOR_APPROVAL, approval.message))
        elif approval.state in ("Rejected", "Disconnected"):
            run.broken.append((BROKEN_RULE_STATES[approval.state.upper()], approval.message))
        else:
            run.waiting.append((Reason.WAITING_FOR_APPROVAL, f"NCC rule {found.rule_id}: {approval.message}"))
        return
    reason = BROKEN_RULE_STATES.get(state, Reason.CLOUD_ERROR)
    detail = f": {found.error_message}" if found.error_message else ""
    if reapprove:
        # A rejected or lost connection cannot be approved again: a new rule makes a new endpoint.
        try:
            account.delete_rule(ncc_id, found.rule_id)
            run.wrote("Replaced", f"Deleted NCC rule {found.rule_id} ({state}); a new one follows")
            run.in_flight.append(f"replacement of NCC rule {found.rule_id}")
        except Exception as exc:
            run.fail("replacing the NCC rule", exc)
        return
    run.broken.append(
        (
            reason,
            f"NCC rule {found.rule_id} is {state}{detail}; set spec.databricks.reapproveRejected: true to "
            "replace it with a new rule",
        )
    )


# --- conditions and status ------------------------------------------------------------------------------


def _summary(
    run: _Pass, ncc_status: Mapping[str, Any], generation: int | None, ctx: CloudContext
) -> tuple[list[dict[str, Any]], float | None]:
    """The kstatus triple and the requeue delay, by precedence: fatal, broken, transient, in flight,
    waiting, ready."""
    soon = _soon(ctx)
    in_flight_delay = soon * GATEWAY_POLL_FACTOR if run.slow_in_flight else soon
    requeue: float | None = in_flight_delay if run.in_flight else None
    fatal = [(w, c) for w, c in run.errors if not c.retryable]
    retryable = [(w, c) for w, c in run.errors if c.retryable]
    if fatal:
        what, classified = fatal[0]
        message = f"{what}: {classified.code}: {classified.message}"
        return cond.stalled(_reason_of(classified), message, generation), requeue
    if run.broken:
        reason, message = run.broken[0]
        return cond.stalled(reason, message, generation), requeue
    if retryable:
        what, classified = retryable[0]
        delay = max(c.delay or soon for _, c in retryable)
        message = f"{what}: {classified.code}: {classified.message}"
        return cond.reconciling(Reason.TRANSIENT_ERROR, message, generation), min(delay, MAX_RETRY_DELAY)
    if run.in_flight:
        return cond.reconciling(
            Reason.PROVISIONING, "in flight: " + "; ".join(run.in_flight), generation
        ), requeue
    if run.waiting:
        reason, message = run.waiting[0]
        return cond.reconciling(reason, "; ".join(m for _, m in run.waiting), generation), soon * 2
    if ncc_status.get("connectionState") != ESTABLISHED:
        state = ncc_status.get("connectionState") or "not created"
        return cond.reconciling(Reason.WAITING_FOR_APPROVAL, f"NCC rule is {state}", generation), soon * 2
    return (
        cond.ready(
            generation,
            f"gateway provisioned, NCC rule {ncc_status.get('ruleId')} ESTABLISHED (group id {PRIVATE_FRONTEND_NAME})",
        ),
        None,
    )


def _rule_condition(ncc_status: Mapping[str, Any], run: _Pass, generation: int | None) -> dict[str, Any]:
    state = ncc_status.get("connectionState")
    if state == ESTABLISHED:
        return cond.domain(cond.NCC_RULE_ESTABLISHED, True, Reason.APPROVED, "ESTABLISHED", generation)
    if state and state.upper() in BROKEN_RULE_STATES:
        return cond.domain(
            cond.NCC_RULE_ESTABLISHED,
            False,
            BROKEN_RULE_STATES[state.upper()],
            f"rule is {state}",
            generation,
        )
    if state:
        return cond.domain(
            cond.NCC_RULE_ESTABLISHED, False, Reason.WAITING_FOR_APPROVAL, f"rule is {state}", generation
        )
    return cond.domain(cond.NCC_RULE_ESTABLISHED, False, Reason.PROVISIONING, "no rule yet", generation)


def _error_events(previous_conditions: list[dict[str, Any]], summary: list[dict[str, Any]]) -> list[Event]:
    """A Warning when an error condition appears or changes (not on every retry of the same one)."""
    ready_now = summary[0]
    if ready_now["reason"] not in (
        Reason.TRANSIENT_ERROR,
        Reason.CLOUD_ERROR,
        Reason.OWNERSHIP_CONFLICT,
        Reason.PROVISIONING_FAILED,
        Reason.CONNECTION_REJECTED,
        Reason.CONNECTION_DISCONNECTED,
    ):
        return []
    before = cond.find(previous_conditions, cond.READY) or {}
    if before.get("reason") == ready_now["reason"] and before.get("message") == ready_now["message"]:
        return []
    return [Event("Warning", ready_now["reason"], ready_now["message"])]


def _status(
    previous: Mapping[str, Any], generation: int | None, new_conditions: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    status = {k: v for k, v in previous.items() if k not in ("conditions", "observedGeneration")}
    status["observedGeneration"] = generation
    status["conditions"] = cond.set_conditions(previous.get("conditions") or [], new_conditions, now)
    return status


# --- finalize -------------------------------------------------------------------------------------------


def finalize(
    body: dict[str, Any],
    ctx: CloudContext,
    *,
    clock: Clock = _utcnow,
    secret: Mapping[str, str | bytes] | None = None,
) -> Outcome:
    """Delete (rule, gateway, then NSG association, NSG and public IP) or release (Orphan) what we own.

    `done` becomes True once nothing of ours is left (Delete) or our tags are gone (Orphan).
    """
    metadata = body.get("metadata") or {}
    generation = metadata.get("generation")
    previous: dict[str, Any] = dict(body.get("status") or {})
    try:
        sxt = ServerlessTransit.model_validate(_model(body))
    except ValidationError:
        return Outcome(
            status=previous,
            done=True,
            events=[Event("Warning", "NothingReleased", "invalid spec: no owner identity, cloud left as is")],
        )
    owner = owner_of_object(sxt, uid=metadata.get("uid"))
    rule = OwnedBy(owner)
    arm = Arm(ctx)
    events: list[Event] = []
    try:
        if sxt.spec.deletion_policy == "Orphan":
            done = _release_all(arm, sxt, owner, rule, events)
        else:
            done = _delete_all(ctx, arm, sxt, owner, rule, previous, events, secret)
    except Exception as exc:
        classified = classify(exc)
        message = f"deleting: {classified.code}: {classified.message}"
        new = (
            cond.reconciling(Reason.TRANSIENT_ERROR, message, generation)
            if classified.retryable
            else cond.stalled(_reason_of(classified), message, generation)
        )
        return Outcome(
            status=_status(previous, generation, new, clock()),
            requeue_after=min(classified.delay or _soon(ctx) * 5, MAX_RETRY_DELAY),
            events=[Event("Warning", _reason_of(classified), message)],
        )
    policy = sxt.spec.deletion_policy
    verb = "released" if policy == "Orphan" else "deleted"
    message = f"cloud resources {verb}" if done else f"{policy}: waiting for deletions to finish"
    status = _status(previous, generation, cond.reconciling(Reason.DELETING, message, generation), clock())
    return Outcome(
        status=status,
        requeue_after=None if done else _soon(ctx) * GATEWAY_POLL_FACTOR,
        done=done,
        events=events,
    )


def _delete_all(
    ctx: CloudContext,
    arm: Arm,
    sxt: ServerlessTransit,
    owner: Owner,
    rule: OwnedBy,
    previous: Mapping[str, Any],
    events: list[Event],
    secret: Mapping[str, str | bytes] | None,
) -> bool:
    spec = sxt.spec
    gw_id = application_gateway_id(spec, owner)
    # 1. The NCC rule (its endpoint is Databricks'; our gateway's connection goes with it).
    ncc_id = spec.databricks.ncc.id or (previous.get("ncc") or {}).get("id")
    account = DatabricksAccount(
        ctx.databricks(spec.databricks.account_host, spec.databricks.account_id, secret)
    )
    if ncc_id is None and spec.databricks.ncc.name is not None:
        found_ncc = account.observe_ncc(
            name=spec.databricks.ncc.name, region=ncc_region(spec.databricks, spec.azure.location)
        )
        ncc_id = found_ncc.id if found_ncc else None
    if ncc_id is not None:
        found = account.observe_rule(ncc_id, gw_id)
        if found is not None:
            account.delete_rule(ncc_id, found.rule_id)
            events.append(Event("Normal", "Deleted", f"Deleted NCC private endpoint rule {found.rule_id}"))
    # 2. The gateway (it references the public IP; the NSG only protects its subnet).
    result = arm.delete(gw_id, rule)
    if not (result.gone or result.action == "NotOwned"):
        return False
    if result.action == "Deleted":
        events.append(Event("Normal", "Deleted", f"Deleted application gateway {gw_id.rsplit('/', 1)[-1]}"))
    # 3. Detach our NSG from the subnet (an NSG in use cannot be deleted), then the NSG and the public IP.
    nsg_id = gateway_nsg_id(spec, owner)
    nsg = arm.observe(nsg_id)
    subnet_id = spec.network.frontend_subnet_id
    if nsg is not None and rule.is_ours(nsg.get("tags")):
        subnet = arm.observe(subnet_id)
        attached = ((subnet or {}).get("properties") or {}).get("networkSecurityGroup") or {}
        if subnet is not None and attached.get("id") and same_id(attached["id"], nsg_id):
            run = _Pass()
            _put_subnet(ctx, subnet_id, subnet, None, run, f"subnet {subnet_id.rsplit('/', 1)[-1]}")
            if run.errors:
                raise run.errors[0][1].as_error()
            events.extend(run.events)
            return False
    done = True
    for resource_id, what in ((nsg_id, "network security group"), (public_ip_id(spec, owner), "public IP")):
        deleted = arm.delete(resource_id, rule, observed=nsg if resource_id == nsg_id else False)
        if deleted.action == "Deleted" or deleted.action == "Deleting":
            events.append(Event("Normal", "Deleted", f"Deleting {what} {resource_id.rsplit('/', 1)[-1]}"))
        done = done and (deleted.gone or deleted.action == "NotOwned")
    return done


def _release_all(arm: Arm, sxt: ServerlessTransit, owner: Owner, rule: OwnedBy, events: list[Event]) -> bool:
    """Orphan: our tags come off the gateway, NSG and public IP; the NCC rule and the subnet stay as they are."""
    released = 0
    for resource_id in (
        application_gateway_id(sxt.spec, owner),
        gateway_nsg_id(sxt.spec, owner),
        public_ip_id(sxt.spec, owner),
    ):
        released += arm.release(resource_id, rule) == "Released"
    if released:
        events.append(
            Event("Normal", "Released", f"Removed ownership tags from {released} resource(s); left in place")
        )
    return True
