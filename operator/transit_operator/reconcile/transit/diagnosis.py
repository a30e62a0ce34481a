"""Does Kafka get through? A diagnosis of a ServerlessTransit's data path, hop by hop (issue 19).

The pass (`reconcile.transit.pass_`) says whether every resource exists and the NCC rule is ESTABLISHED;
this module asks the question users ask: can a notebook reach Kafka, and if not, which hop is broken. It
reads only, and looks at the hops in the order a connection from Databricks Serverless crosses them
(`api.v1alpha1.DATA_PATH_HOPS`):

    nccRule            the Databricks NCC private endpoint rule, read live: ESTABLISHED
    proxy              the option's proxy (`TransitOption.diagnose`): HAProxy - every VMSS instance answers
                       and runs the desired config; Application Gateway - provisioned and Running
    privateEndpoints   each zone's private endpoint of the ConfluentPrivateLink exists, is Approved, and has
                       an IP the proxy forwards to (`status.backendIps`)
    backends           the proxy's own health checks of those endpoints (HAProxy's server states, the
                       gateway's backend health API): Confluent answers behind each of them
    dnsRecords         the ConfluentPrivateLink's private DNS records point at its endpoints' IPs (the
                       customer VNet's own way to Confluent; NotChecked with `dns.manageZone: false`)

The result is `status.diagnosis` (time, what asked, the verdict per hop, the first broken hop) and the
`DataPathHealthy` condition (False naming the first broken hop, Unknown when a hop could not be read and
none is broken, True otherwise). `DataPathHealthy` is never folded into `Ready`: a Confluent-side incident
must not make GitOps health flap (docs/gitops.md). A diagnosis never writes to the cloud; one that cannot
read a hop says so at that hop (`Unknown`) and goes on with the others.

    diagnose(body, cpl, ctx, trigger=..., request=...) -> Outcome   the status with `diagnosis` and the
                                                                     condition, and one Event
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from transit_operator.api.v1alpha1 import (
    DATA_PATH_HOPS,
    ConfluentPrivateLink,
    DiagnosisStatus,
    HopName,
    HopVerdict,
    ServerlessTransit,
    ServerlessTransitStatus,
    Verdict,
)
from transit_operator.cloud.arm import Arm
from transit_operator.cloud.context import CloudContext
from transit_operator.cloud.errors import TransitError
from transit_operator.cloud.network import endpoint_connection, endpoint_private_ip
from transit_operator.plan import naming
from transit_operator.plan.confluent import (
    APPROVED,
    build_dns_records,
    owner_of_object,
    private_dns_zone_id,
    private_endpoint_id,
)
from transit_operator.plan.ownership import Owner
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import Event, Outcome
from transit_operator.reconcile.pass_record import Clock, build_outcome, previous_status, utcnow, validated
from transit_operator.reconcile.transit import databricks

__all__ = [
    "DiagnosisInput",
    "ProxyCheck",
    "diagnose",
    "hop",
    "summary",
]

Trigger = Literal["annotation", "command"]


def hop(name: HopName, verdict: Verdict, message: str = "") -> HopVerdict:
    return HopVerdict(hop=name, verdict=verdict, message=message)


@dataclass(frozen=True)
class DiagnosisInput:
    """What a proxy check gets: the transit (validated), its owner, its last status, the ConfluentPrivateLink
    (None when missing or invalid) and the cloud."""

    sxt: ServerlessTransit
    owner: Owner
    status: ServerlessTransitStatus
    cpl: ConfluentPrivateLink | None
    ctx: CloudContext


# An option's own hops: `proxy` and `backends` (`TransitOption.diagnose`).
ProxyCheck = Callable[[DiagnosisInput], tuple[HopVerdict, HopVerdict]]


def _unknown(name: HopName, what: str, exc: Exception) -> HopVerdict:
    return hop(name, "Unknown", f"{what} could not be read: {exc}")


# --- the hops every option shares ------------------------------------------------------------------------


def _ncc_rule(inputs: DiagnosisInput) -> HopVerdict:
    ncc = inputs.status.ncc
    target = inputs.status.private_link_resource_id
    if ncc is None or not ncc.id or not target:
        return hop("nccRule", "Broken", "no NCC private endpoint rule yet (the transit has not reached it)")
    try:
        account = databricks.account_for(inputs.sxt.spec, inputs.owner.namespace, inputs.ctx)
        rule = account.observe_rule(ncc.id, target)
    except TransitError as exc:
        return _unknown("nccRule", f"the rule of NCC {ncc.id}", exc)
    if rule is None:
        return hop("nccRule", "Broken", f"NCC {ncc.id} has no private endpoint rule to {target}")
    state = rule.connection_state or "unknown"
    if state == "ESTABLISHED" and not rule.deactivated:
        return hop("nccRule", "Healthy", f"rule {rule.rule_id}: ESTABLISHED")
    detail = " (deactivated)" if rule.deactivated else ""
    error = f": {rule.error_message}" if rule.error_message else ""
    return hop("nccRule", "Broken", f"rule {rule.rule_id}: {state}{detail}{error}")


def _endpoint_ips(inputs: DiagnosisInput, arm: Arm) -> tuple[dict[str, str], list[str], list[str]]:
    """Zone -> IP of each Approved endpoint, what is wrong with the others, and what could not be read."""
    assert inputs.cpl is not None
    cpl = inputs.cpl
    owner = owner_of_object(cpl, uid=None)
    recorded = {z.name: z.private_endpoint_id for z in (cpl.status.zones if cpl.status else [])}
    ips: dict[str, str] = {}
    broken: list[str] = []
    unread: list[str] = []
    for zone in sorted(z.name for z in cpl.spec.confluent.zones):
        endpoint_id = recorded.get(zone) or private_endpoint_id(cpl.spec, owner, zone)
        try:
            body = arm.observe(endpoint_id)
            if body is None:
                broken.append(f"zone {zone}: private endpoint {endpoint_id.rsplit('/', 1)[-1]} does not exist")
                continue
            state = endpoint_connection(body, naming.build_private_endpoint_connection_name(zone)).status
            address = endpoint_private_ip(arm, body) if state == APPROVED else None
        except TransitError as exc:
            unread.append(f"zone {zone}: {exc}")
            continue
        if state != APPROVED:
            broken.append(f"zone {zone}: private endpoint connection is {state or 'missing'}")
        elif address is None:
            broken.append(f"zone {zone}: private endpoint has no private IP")
        else:
            ips[zone] = address
    return ips, broken, unread


def _private_endpoints(inputs: DiagnosisInput, ips: dict[str, str], broken: list[str],
                       unread: list[str]) -> HopVerdict:
    forwarded = set(inputs.status.backend_ips)
    for zone, address in sorted(ips.items()):
        if address not in forwarded:
            shown = ", ".join(sorted(forwarded)) or "none"
            broken.append(f"zone {zone}: endpoint IP {address} is not one the proxy forwards to ({shown})")
    if broken:
        return hop("privateEndpoints", "Broken", "; ".join(broken))
    if unread:
        return hop("privateEndpoints", "Unknown", "; ".join(unread))
    shown = ", ".join(f"{zone} {ip}" for zone, ip in sorted(ips.items()))
    return hop("privateEndpoints", "Healthy", f"Approved: {shown}")


def _record_values(body: Mapping[str, Any]) -> tuple[str, ...]:
    props = body.get("properties") or {}
    if props.get("cnameRecord"):
        return (str(props["cnameRecord"].get("cname", "")).lower().rstrip("."),)
    return tuple(sorted(str(a.get("ipv4Address", "")) for a in props.get("aRecords") or []))


def _dns_records(inputs: DiagnosisInput, arm: Arm, ips: dict[str, str]) -> HopVerdict:
    assert inputs.cpl is not None
    spec = inputs.cpl.spec
    if not spec.dns.manage_zone:
        return hop("dnsRecords", "NotChecked", "dns.manageZone is false: the records are someone else's")
    expected = build_dns_records(spec, ips, owner=owner_of_object(inputs.cpl, uid=None))
    try:
        live = {str(r.get("id", "")).lower(): r for r in arm.list_children(private_dns_zone_id(spec), "recordSets")}
    except TransitError as exc:
        return _unknown("dnsRecords", f"private DNS zone {spec.confluent.dns_domain}", exc)
    wrong = []
    for record in expected:
        name = record.id.rsplit("/", 2)
        shown = f"{name[-2]} {name[-1]}"
        found = live.get(record.id.lower())
        if found is None:
            wrong.append(f"{shown}: missing")
        elif _record_values(found) != _record_values(record.body):
            wrong.append(f"{shown}: {', '.join(_record_values(found)) or 'empty'} "
                         f"instead of {', '.join(_record_values(record.body))}")
    if wrong:
        return hop("dnsRecords", "Broken", "; ".join(wrong))
    return hop("dnsRecords", "Healthy", f"{len(expected)} record sets match the endpoints' IPs")


# --- the diagnosis ----------------------------------------------------------------------------------------


def summary(hops: Sequence[HopVerdict]) -> tuple[bool | None, Reason, str]:
    """`DataPathHealthy`'s status, reason and message from the hops."""
    broken = next((h for h in hops if h.verdict == "Broken"), None)
    if broken is not None:
        return False, Reason.HOP_BROKEN, f"{broken.hop}: {broken.message}"
    unknown = next((h for h in hops if h.verdict == "Unknown"), None)
    if unknown is not None:
        return None, Reason.HOP_UNKNOWN, f"{unknown.hop}: {unknown.message}"
    checked = [h.hop for h in hops if h.verdict == "Healthy"]
    return True, Reason.HOPS_HEALTHY, f"healthy: {', '.join(checked)}"


def _hops(inputs: DiagnosisInput, proxy_check: ProxyCheck | None) -> list[HopVerdict]:
    arm = Arm(inputs.ctx)
    found: dict[str, HopVerdict] = {"nccRule": _ncc_rule(inputs)}
    if proxy_check is None:
        found["proxy"] = hop("proxy", "NotChecked", f"option {inputs.sxt.spec.option} has no proxy check")
        found["backends"] = hop("backends", "NotChecked", f"option {inputs.sxt.spec.option} has no backend check")
    else:
        found["proxy"], found["backends"] = proxy_check(inputs)
    if inputs.cpl is None:
        missing = f"ConfluentPrivateLink {inputs.sxt.spec.confluent_private_link_ref.name} is missing or invalid"
        found["privateEndpoints"] = hop("privateEndpoints", "Unknown", missing)
        found["dnsRecords"] = hop("dnsRecords", "Unknown", missing)
    else:
        ips, broken, unread = _endpoint_ips(inputs, arm)
        found["privateEndpoints"] = _private_endpoints(inputs, ips, broken, unread)
        found["dnsRecords"] = _dns_records(inputs, arm, ips)
    return [found[name] for name in DATA_PATH_HOPS]


def diagnose(
    body: dict[str, Any],
    cpl: dict[str, Any] | None,
    ctx: CloudContext,
    *,
    trigger: Trigger = "annotation",
    request: str | None = None,
    clock: Clock = utcnow,
) -> Outcome:
    """One diagnosis of the object's data path: its status with `diagnosis` and `DataPathHealthy` set (every
    other field as the last pass wrote it), and one Event (Normal when healthy, Warning naming the first
    broken hop). Reads only."""
    from transit_operator.reconcile.transit.registry import OPTIONS  # the options import this module

    previous = previous_status(ServerlessTransitStatus, body)
    generation = (body.get("metadata") or {}).get("generation")
    sxt = validated(ServerlessTransit, body)
    if isinstance(sxt, str):
        hops = [hop(name, "Unknown", f"the spec is invalid: {sxt}") for name in DATA_PATH_HOPS]
    else:
        cpl_model = validated(ConfluentPrivateLink, cpl, with_status=True) if cpl is not None else None
        inputs = DiagnosisInput(
            sxt=sxt,
            owner=owner_of_object(sxt, uid=(body.get("metadata") or {}).get("uid")),
            status=previous,
            cpl=cpl_model if isinstance(cpl_model, ConfluentPrivateLink) else None,
            ctx=ctx,
        )
        option = OPTIONS.get(sxt.spec.option)
        hops = _hops(inputs, option.diagnose if option is not None else None)
    return diagnosis_outcome(previous, generation, hops, clock, trigger=trigger, request=request)


def diagnosis_outcome(
    previous: ServerlessTransitStatus,
    generation: int | None,
    hops: list[HopVerdict],
    clock: Clock,
    *,
    trigger: Trigger,
    request: str | None,
) -> Outcome:
    """The status with `diagnosis` and `DataPathHealthy` from `hops`, and the Event that tells it."""
    now = clock()
    first = next((h.hop for h in hops if h.verdict == "Broken"), None)
    diagnosis = DiagnosisStatus(
        time=now.strftime("%Y-%m-%dT%H:%M:%SZ"), trigger=trigger, request=request, hops=hops, first_broken_hop=first
    )
    ok, reason, message = summary(hops)
    condition = cond.domain(cond.DATA_PATH_HEALTHY, ok, reason, message, generation)
    event = Event("Normal" if ok else "Warning", "DataPathDiagnosed", f"data path {_word(ok)}: {message}")
    outcome = build_outcome(
        previous,
        previous.observed_generation,  # a diagnosis reconciles nothing: the last pass's generation stays
        [condition],
        now,
        fields={"diagnosis": diagnosis},
        events=[event],
    )
    return outcome


def _word(ok: bool | None) -> str:
    return "healthy" if ok else "unknown" if ok is None else "broken"
