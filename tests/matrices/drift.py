"""The drift matrix: every managed resource type deleted and modified out of band, and what the operator does.

Each case changes one resource the operator manages the way someone else would - through the sandbox's
admin operations, which go through the same resource logic as any client's request (`Admin.out_of_band`,
`DatabricksState.out_of_band_*`; Azure's rules apply), never into the operator - then makes the owning
object's drift check due and reads the operator's next pass (`InProcessOperator.passes`). A case is
judged against what it expects:

    repaired   the first pass after the change writes the repair (a PUT/PATCH/POST of that resource) and
               posts an Event naming it - for the private DNS zone, its records and links: the first drift
               check that reads that part, at most len(DNS_ASPECTS) checks (a steady check reads one); afterwards every object is Ready again and the cloud holds what it
               held before, with the changed property restored
    reported   repair would be unsafe: the first pass repairs what is safe, and the object reports the rest
               in its Ready condition (`reason`) - `why` says why it is not repaired
    refused    Azure refuses the change itself (`reason`: Azure's code), so that drift cannot happen; the
               operator has nothing to do and writes nothing

The matrix runs on one world per option (the operator in-process, drift checks only when due); a case that
leaves it unready (reported, or failed) gets a fresh world for the next one.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from transit_operator.plan.haproxy_config import config_hash
from transit_operator.reconcile.confluent.dns import DNS_ASPECTS
from transit_sandbox.arm.core import ArmError

from .world import CPL, SXT, InProcessOperator, Pass, Snapshot, World, condition, is_ready, wait_for

Expect = Literal["repaired", "reported", "refused"]
PASS_SECONDS = 30.0
CONVERGE_SECONDS = 60.0


@dataclass(frozen=True)
class Drift:
    """What a change did and how to recognise its repair."""

    paths: tuple[str, ...]  # lower-cased path prefixes: a write to one of them in the first pass repairs it
    names: tuple[str, ...]  # an Event naming one of these (resource name or Event reason) reports the repair
    restored: Callable[[World], bool] = lambda world: True  # the changed property is as the operator wants it
    theirs: frozenset[str] = frozenset()  # NCC names the change itself made (someone else's: they stay)


@dataclass(frozen=True)
class DriftCase:
    option: str
    resource: str  # the managed resource type, in the words
    change: Literal["delete", "modify"]
    owner: str  # the kind whose pass repairs it
    act: Callable[[World], Drift]
    expect: Expect = "repaired"
    reason: str = ""  # reported: the Ready condition's reason; refused: Azure's error code
    why: str = ""  # reported: why repair would be unsafe; refused: what Azure says

    @property
    def id(self) -> str:
        return f"{self.option}-{self.resource.replace(' ', '-')}-{self.change}"


@dataclass
class DriftVerdict:
    case: DriftCase
    outcome: Expect | None = None  # what happened
    problems: list[str] = field(default_factory=list)
    first_pass: Pass | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == self.case.expect and not self.problems


# ------------------------------------------------------------------------------------------ finding things

def resource(world: World, type_: str, name: str = "", *, exact: bool = False) -> dict[str, Any]:
    """The one stored resource of `type_` (case-insensitive) whose name contains `name` (or is it)."""
    found = [d for d in world.cloud.admin.resources() if d["type"].lower() == type_.lower()
             and (d["name"] == name if exact else name in d["name"])]
    assert len(found) == 1, f"{len(found)} {type_} named *{name}*"
    return found[0]


def view(world: World, resource_id: str) -> dict[str, Any] | None:
    return world.cloud.admin.resource(resource_id)



def _drift(doc: dict[str, Any], restored: Callable[[World], bool] = lambda world: True,
           *names: str) -> Drift:
    return Drift((doc["id"].lower(),), (doc["name"], *names), restored)


def _prop(world: World, resource_id: str, *path: str | int) -> Any:
    value: Any = view(world, resource_id)
    for key in path:
        if value is None:
            return None
        value = value[key] if isinstance(key, int) else value.get(key)
    return value


# ------------------------------------------------------------------------------------------ the changes

PE = "Microsoft.Network/privateEndpoints"
NIC = "Microsoft.Network/networkInterfaces"
ZONE = "Microsoft.Network/privateDnsZones"
RECORD = "Microsoft.Network/privateDnsZones/A"
LINK = "Microsoft.Network/privateDnsZones/virtualNetworkLinks"
NSG = "Microsoft.Network/networkSecurityGroups"
LB = "Microsoft.Network/loadBalancers"
PLS = "Microsoft.Network/privateLinkServices"
VMSS = "Microsoft.Compute/virtualMachineScaleSets"
APPGW = "Microsoft.Network/applicationGateways"


Path = tuple[str | int, ...]


def _at(doc: Any, path: Path) -> Any:
    for key in path:
        doc = doc[key] if isinstance(key, int) else (doc or {}).get(key)
    return doc


def deleted(type_: str, *, back: Callable[[World, dict[str, Any]], bool] | None = None
            ) -> Callable[[World], Drift]:
    """Someone deletes the resource of `type_`; repaired when it is back (and `back` holds)."""
    def act(world: World) -> Drift:
        doc = resource(world, type_)
        world.cloud.admin.out_of_band("DELETE", doc["id"])
        return _drift(doc, lambda w: _prop(w, doc["id"], "properties", "provisioningState") == "Succeeded"
                      and (back is None or back(w, doc)))
    return act


def modified(type_: str, path: Path, value: Any, *, name: str = "") -> Callable[[World], Drift]:
    """Someone sets one property (`path` in the REST body) of the resource of `type_` to `value` (or to
    `value(current)`), with a PUT of the whole body as the portal does; repaired when it is as before."""
    def act(world: World) -> Drift:
        doc = resource(world, type_, name)
        want = _at(doc, path)
        body = copy.deepcopy(doc)
        _at(body, path[:-1])[path[-1]] = value(want) if callable(value) else value
        world.cloud.admin.out_of_band("PUT", doc["id"], body)
        return _drift(doc, lambda w: _prop(w, doc["id"], *path) == want)
    return act


def modify_nic_ip(world: World) -> Drift:
    """The endpoint's IP changes (what a re-created endpoint gets): the records must follow."""
    pe = resource(world, PE)
    nic = resource(world, NIC)
    old = nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]
    head, last = old.rsplit(".", 1)
    new = f"{head}.{int(last) + 50}"
    world.cloud.admin.set_private_endpoint_ip(pe["id"], new)
    records = [d for d in world.cloud.admin.resources() if d["type"] == RECORD]
    return Drift(tuple(r["id"].lower() for r in records), ("EndpointIpChanged", "DnsRecordsUpdated"),
                 lambda w: all(new in str(_prop(w, r["id"], "properties", "aRecords")) for r in records))


def delete_zone(world: World) -> Drift:
    """A private zone with VNet links cannot be deleted: someone deletes its links, then the zone."""
    zone = resource(world, ZONE)
    for link in [d for d in world.cloud.admin.resources() if d["type"] == LINK]:
        world.cloud.admin.out_of_band("DELETE", link["id"])
    wait_for(lambda: not [d for d in world.cloud.admin.resources() if d["type"] == LINK], 10, "links deleted")
    world.cloud.admin.out_of_band("DELETE", zone["id"])
    return _drift(zone)


def modify_zone(world: World) -> Drift:
    """A private zone has no settings of its own to change; its tags can be: ours are removed."""
    zone = resource(world, ZONE)
    world.cloud.admin.out_of_band("PUT", zone["id"], {**zone, "tags": {"team": "someone-else"}})
    return _drift(zone, lambda w: "managed-by" in (_prop(w, zone["id"], "tags") or {}))


def _record_drift(record: dict[str, Any], restored: Callable[[World], bool]) -> Drift:
    return Drift((record["id"].lower(),), ("DnsRecordsUpdated",), restored)


def delete_record(world: World) -> Drift:
    record = resource(world, RECORD, "*", exact=True)
    world.cloud.admin.out_of_band("DELETE", record["id"])
    return _record_drift(record, lambda w: view(w, record["id"]) is not None)


def modify_record(world: World) -> Drift:
    record = resource(world, RECORD, "*", exact=True)
    right = record["properties"]["aRecords"]
    world.cloud.admin.out_of_band("PUT", record["id"], {**record, "properties": {
        **record["properties"], "aRecords": [{"ipv4Address": "10.9.9.9"}]}})
    return _record_drift(record, lambda w: _prop(w, record["id"], "properties", "aRecords") == right)


def _kafka_rule(nsg: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in nsg["properties"]["securityRules"]
                if "9092" in (r["properties"].get("destinationPortRanges") or []))


def delete_nsg_rule(world: World) -> Drift:
    nsg = resource(world, NSG)
    rule = _kafka_rule(nsg)
    world.cloud.admin.out_of_band("DELETE", rule["id"])
    return _drift(nsg, lambda w: any(r["name"] == rule["name"] for r in
                                     _prop(w, nsg["id"], "properties", "securityRules") or []))


def modify_nsg_rule(world: World) -> Drift:
    nsg = resource(world, NSG)
    index = nsg["properties"]["securityRules"].index(_kafka_rule(nsg))
    return modified(NSG, ("properties", "securityRules", index, "properties", "access"), "Deny")(world)


def delete_pls(world: World) -> Drift:
    """A Private Link Service with connections cannot be deleted: someone removes the connection, then it."""
    pls = resource(world, PLS)
    for connection in world.cloud.admin.connections(target_id=pls["id"]):
        world.cloud.admin.remove_connection(pls["id"], connection["name"])
    return deleted(PLS)(world)


def _instances_run_the_config(world: World, vmss: dict[str, Any]) -> bool:
    """Every instance of the scale set runs the config its transit's status names."""
    status = (world.get(world.of_kind(SXT)) or {}).get("status") or {}
    desired = (status.get("haproxy") or {}).get("desiredConfigHash")
    configs = dict(world.executor.configs)
    count = world.of_kind(SXT)["spec"]["haproxy"]["instanceCount"]
    return len(configs) == count and all(c is not None and config_hash(c) == desired for c in configs.values())


def _live_rule(world: World) -> dict[str, Any]:
    state = world.cloud.databricks
    with state.lock:
        return dict(next(r for r in state.rules.values() if not r["deactivated"]))


def delete_ncc_rule(world: World) -> Drift:
    rule = _live_rule(world)
    world.cloud.databricks.out_of_band_delete_rule(rule["rule_id"])
    return Drift((f"/network-connectivity-configs/{rule['network_connectivity_config_id']}/private-endpoint-rules",),
                 ("NccRuleChanged",))


def modify_ncc_rule(world: World) -> Drift:
    rule = _live_rule(world)
    want = sorted(rule["domain_names"])
    world.cloud.databricks.out_of_band_set_domain_names(rule["rule_id"], want[:1])
    return Drift((f"/private-endpoint-rules/{rule['rule_id']}",), ("NccRuleChanged",),
                 lambda w: sorted(_live_rule(w)["domain_names"]) == want)


def _workspace(world: World) -> tuple[int, dict[str, Any]]:
    state = world.cloud.databricks
    with state.lock:
        workspace_id, workspace = next(iter(state.workspaces.items()))
        return workspace_id, dict(workspace)


def _bound_back(workspace_id: int, ncc_id: str) -> Callable[[World], bool]:
    return lambda w: _workspace(w)[1].get("network_connectivity_config_id") == ncc_id


def rebind_workspace(world: World) -> Drift:
    """Someone binds the workspace to another NCC of its region."""
    workspace_id, workspace = _workspace(world)
    ours = workspace["network_connectivity_config_id"]
    other = world.cloud.databricks.out_of_band_create_ncc("ncc-someone-else", workspace["location"],
                                                          workspace["account_id"])
    world.cloud.databricks.out_of_band_bind(workspace_id, other)
    return Drift((f"/workspaces/{workspace_id}",), ("WorkspaceBound",), _bound_back(workspace_id, ours),
                 frozenset({"ncc-someone-else"}))


def unbind_workspace(world: World) -> Drift:
    """Someone removes the workspace's NCC (`update_mask=network_connectivity_config_id`, no value)."""
    workspace_id, workspace = _workspace(world)
    ours = workspace["network_connectivity_config_id"]
    state = world.cloud.databricks
    with state.lock:
        state.update_workspace(state.workspaces[workspace_id], {"network_connectivity_config_id": None})
    return Drift((f"/workspaces/{workspace_id}",), ("WorkspaceBound",), _bound_back(workspace_id, ours))


DNS_PARTS = ("DNS zone", "record set", "VNet link")  # repaired by the steady check that reads them
DISCONNECTED_WHY = ("the NCC rule's connection went with the target: a new connection means a new Databricks "
                    "endpoint approved by the operator, re-opening a path someone removed; the operator "
                    "replaces the rule only with spec.databricks.reapproveRejected")
CASES: list[DriftCase] = [
    DriftCase("haproxy", "endpoint", "delete", CPL, deleted(PE)),
    DriftCase("haproxy", "endpoint", "modify", CPL, modified(  # the connection's request message
        PE, ("properties", "manualPrivateLinkServiceConnections", 0, "properties", "requestMessage"), "edited")),
    DriftCase("haproxy", "NIC IP", "modify", CPL, modify_nic_ip),
    DriftCase("haproxy", "DNS zone", "delete", CPL, delete_zone),
    DriftCase("haproxy", "DNS zone", "modify", CPL, modify_zone),
    DriftCase("haproxy", "record set", "delete", CPL, delete_record),
    DriftCase("haproxy", "record set", "modify", CPL, modify_record),
    DriftCase("haproxy", "VNet link", "delete", CPL, deleted(LINK)),
    DriftCase("haproxy", "VNet link", "modify", CPL, modified(LINK, ("properties", "registrationEnabled"), True)),
    DriftCase("haproxy", "NSG rule", "delete", SXT, delete_nsg_rule),
    DriftCase("haproxy", "NSG rule", "modify", SXT, modify_nsg_rule),
    DriftCase("haproxy", "load balancer", "delete", SXT, deleted(LB), "refused",
              "LoadBalancerInUseByVirtualMachineScaleSet",
              "Azure refuses to delete a load balancer a scale set's NICs (and a Private Link Service) use"),
    DriftCase("haproxy", "load balancer", "modify", SXT, modified(  # Azure's default idle timeout, under Kafka's
        LB, ("properties", "loadBalancingRules", 0, "properties", "idleTimeoutInMinutes"), 4)),
    DriftCase("haproxy", "private link service", "delete", SXT, delete_pls, "reported",
              "ConnectionDisconnected", DISCONNECTED_WHY),
    DriftCase("haproxy", "private link service", "modify", SXT, modified(  # HAProxy would get PROXY headers
        PLS, ("properties", "enableProxyProtocol"), True)),
    DriftCase("haproxy", "scale set", "delete", SXT, deleted(VMSS, back=_instances_run_the_config)),
    DriftCase("haproxy", "scale set", "modify", SXT, modified(VMSS, ("sku", "capacity"), lambda n: n + 1)),
    DriftCase("haproxy", "scale set model", "modify", SXT, modified(
        VMSS, ("sku", "name"), lambda size: "Standard_B1s" if size != "Standard_B1s" else "Standard_B2s")),
    DriftCase("haproxy", "NCC rule", "delete", SXT, delete_ncc_rule),
    DriftCase("haproxy", "NCC rule", "modify", SXT, modify_ncc_rule),
    DriftCase("haproxy", "workspace binding", "delete", SXT, unbind_workspace),
    DriftCase("haproxy", "workspace binding", "modify", SXT, rebind_workspace),
    DriftCase("applicationGateway", "application gateway", "delete", SXT, deleted(APPGW), "reported",
              "ConnectionDisconnected", DISCONNECTED_WHY),
    DriftCase("applicationGateway", "application gateway", "modify", SXT, modified(  # the backend pool emptied
        APPGW, ("properties", "backendAddressPools", 0, "properties", "backendAddresses"), [])),
]


# ------------------------------------------------------------------------------------------ running

def _settled(world: World) -> None:
    """Until no ARM operation is in flight (an out-of-band change is complete, as the operator will see it)."""
    def quiet() -> bool:
        return all((d.get("properties") or {}).get("provisioningState") in (None, "Succeeded", "Failed", "Canceled")
                   for d in world.cloud.admin.resources())
    wait_for(quiet, 10, "the out-of-band change completed", interval=0.05)


def _comparable(snapshot: Snapshot, theirs: frozenset[str] = frozenset()) -> Snapshot:
    """Scale set instances are numbered by Azure anew when the set is re-created: left out; so are NCCs
    someone else made (`theirs`)."""
    return Snapshot(frozenset(r for r in snapshot.arm if "/virtualmachines/" not in r[0]),
                    snapshot.nccs - theirs, snapshot.rules, snapshot.bindings)


def _posted(world: World, owner: dict[str, Any], message: str, since: float) -> bool:
    """An Event with `message` on `owner`'s object, in the API server."""
    name = owner["metadata"]["name"]
    return any(e.get("involvedObject", {}).get("name") == name and e.get("message") == message
               and datetime.fromisoformat(e.get("lastTimestamp") or "1970-01-01T00:00:00+00:00").timestamp() >= since
               for e in world.events())


def repair_writes(world: World, drift: Drift, first: Pass) -> list[str]:
    """Writes to the changed resource made during the first pass."""
    writes = [(r.time, r.method, r.path) for r in world.cloud.admin.writes()]
    writes += [(r.time, r.method, r.path) for r in world.cloud.databricks.requests() if r.method != "GET"]
    return [f"{method} {path}" for at, method, path in writes if first.started <= at <= first.ended
            and any(path.lower().startswith(p) or p in path.lower() for p in drift.paths)]


def run_case(world: World, operator: InProcessOperator, case: DriftCase) -> DriftVerdict:
    """One case on a Ready world (module docstring)."""
    verdict = DriftVerdict(case)
    owner = world.of_kind(case.owner)
    before = _comparable(world.snapshot())
    marker = time.time()
    try:
        drift = case.act(world)
    except ArmError as refused:
        verdict.outcome = "refused"
        if case.reason and refused.code != case.reason:
            verdict.problems.append(f"refused with {refused.code}, not {case.reason}: {refused.message}")
        time.sleep(0.5)
        since = operator.kick(owner)
        first = wait_for(lambda: operator.passes_of(owner, since), PASS_SECONDS, "a pass after the refusal")[0]
        wrote = [r for r in world.cloud.admin.writes() if r.time >= marker]
        if wrote:
            verdict.problems.append(f"the operator wrote after a refused change: {wrote}")
        verdict.first_pass = first
        return verdict
    _settled(world)
    # A steady drift check reads one part of the private DNS in turn (reconcile.confluent.dns, the
    # subscription's Private DNS read budget): a DNS change is repaired by the check that reads that part.
    checks = len(DNS_ASPECTS) if case.resource in DNS_PARTS else 1
    for _ in range(checks):
        since = operator.kick(owner)
        first = wait_for(lambda since=since: operator.passes_of(owner, since), PASS_SECONDS,
                         f"{case.id}: the next pass")[0]
        repaired = repair_writes(world, drift, first)
        if repaired:
            break
    verdict.first_pass = first
    events = first.outcome.events if first.outcome else []
    named = [e for e in events if any(n in e.message or n == e.reason for n in drift.names)]
    if not repaired:
        verdict.problems.append(f"no repair write in the first pass ({first.error or 'no error'}; events: "
                                f"{[e.reason + ': ' + e.message for e in events]})")
    if not named:
        verdict.problems.append(f"no Event naming it in the first pass: {[e.reason + ': ' + e.message for e in events]}")
    else:
        try:  # and it reached the API server as an Event on the object
            wait_for(lambda: _posted(world, owner, named[0].message, marker), 10, "the Event posted")
        except AssertionError as exc:
            verdict.problems.append(f"{exc}: {named[0].reason}: {named[0].message}")
    if case.expect == "reported":
        try:
            reported = wait_for(lambda: (c := condition(world.get(owner), "Ready")).get("reason") == case.reason and c,
                                CONVERGE_SECONDS, f"{case.id}: reported as {case.reason}", interval=0.2)
            verdict.outcome = "reported"
            if "reapproveRejected" not in reported.get("message", ""):
                verdict.problems.append(f"the condition does not say how to fix it: {reported.get('message')}")
        except AssertionError as exc:
            verdict.problems.append(f"{exc}: {world.conditions()}")
        return verdict
    try:
        wait_for(lambda: all(is_ready(world.get(doc)) for doc in world.crs) and drift.restored(world)
                 and _comparable(world.snapshot(), drift.theirs) == before, CONVERGE_SECONDS,
                 f"{case.id}: back to Ready", interval=0.2)
        verdict.outcome = "repaired"
    except AssertionError as exc:
        difference = _comparable(world.snapshot(), drift.theirs).difference(before)
        verdict.problems.append(f"{exc}: {world.conditions()}; restored: {drift.restored(world)}; cloud: {difference}")
    return verdict


def run_matrix(cases: list[DriftCase] | None = None, report: Callable[[DriftVerdict], None] = lambda v: None
               ) -> list[DriftVerdict]:
    """Every case, on as few worlds as possible (a fresh one after a case that leaves its world unready)."""
    verdicts: list[DriftVerdict] = []
    by_option: dict[str, list[DriftCase]] = {}
    for case in cases if cases is not None else CASES:
        by_option.setdefault(case.option, []).append(case)
    for option, selected in by_option.items():
        todo = list(selected)
        while todo:
            with World(option) as world:
                operator = world.start_in_process()
                world.apply()
                world.ready()
                while todo:
                    verdict = run_case(world, operator, todo.pop(0))
                    verdicts.append(verdict)
                    report(verdict)
                    if (verdict.outcome != "repaired" and verdict.outcome != "refused") or verdict.problems:
                        break  # this world is not Ready (or not trusted): the next case gets a fresh one
    return verdicts
