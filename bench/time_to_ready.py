"""Time-to-Ready against the cloud's own critical path, per option, through a real `transit-operator run`.

    python bench/time_to_ready.py [--quick] [--time-scale F]

Per option (haproxy: examples/01-three-zone-haproxy; applicationGateway: examples/03-appgw-transit): a fresh
sandbox cloud with the `realistic` timing profile (`transit_sandbox.timing`: Azure's and Databricks' own
operation durations) times F, an embedded Kubernetes API, and one `transit-operator run --time-scale F`
process; the example objects are applied (cold start) and the time until every one is Ready is measured.

The critical path comes from the emulators' own timeline, not from the operator: every operation the cloud
actually performed (each ARM write with its start and end from the LRO records - an operation ends when its
duration and its instance work are both over - each Databricks call from the request log, the NCC rule's
CREATING -> PENDING and its PENDING -> ESTABLISHED after the approval, Confluent's approval of each private
endpoint), each depending on the resources its body references (`{"id": ...}`), on the private endpoints
whose IP it carries (DNS records, haproxy.cfg in the VMSS customData or a run command's parameters, the
gateway's backend pool), on the earlier write of the same resource, and for the Databricks side on what the
rule targets. The longest chain of durations is what the cloud needs at least; time-to-Ready over it is the
operator's own overhead (1.0 = none). F only shortens the run: every duration on both sides is scaled by it.

Then the endpoint IP change (haproxy): az2's private endpoint gets a new IP; from the moment the
ConfluentPrivateLink's status shows it (the operator's drift check noticed; its interval is the CR's
`driftCheckIntervalSeconds`, 30 s here, times F) until the transit's status shows every instance on the new
config, over the critical path of what the cloud did in between ending in a run command (the model update
of the scale set, for instances created later, is not on it: it leaves the running instances alone).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import copy
import itertools
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from _bodies import div, ratio, table
from transit_operator.api.crd import render_crds_yaml
from transit_operator.runtime.sandbox import load_documents, prepare_customer_side
from transit_sandbox.arm.core import refs_in
from transit_sandbox.executor import ConfigExecutor
from transit_sandbox.kube import start_server
from transit_sandbox.operators import OperatorProcess
from transit_sandbox.server import SandboxCloud
from transit_sandbox.timing import apply_profile

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
OPTIONS = {"haproxy": EXAMPLES / "01-three-zone-haproxy", "applicationGateway": EXAMPLES / "03-appgw-transit"}
SECRET = EXAMPLES / "00-databricks-credentials-secret"
KINDS = ("ConfluentPrivateLink", "ServerlessTransit")
WRITES = ("PUT", "PATCH", "POST", "DELETE")
NEW_IP = "10.20.1.77"
VERBOSE = False


# --- the cloud's timeline ------------------------------------------------------------------------------------


@dataclass
class Step:
    """One operation the cloud performed: [start, end] on the emulator's monotonic clock."""

    name: str
    start: float
    end: float
    deps: set[int] = field(default_factory=set)

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


def _strings(value: Any) -> list[str]:
    """Every string inside a JSON value, and the text of those that are base64 (customData, CONFIG_B64)."""
    out: list[str] = []
    if isinstance(value, dict):
        for item in value.values():
            out += _strings(item)
    elif isinstance(value, list):
        for item in value:
            out += _strings(item)
    elif isinstance(value, str):
        out.append(value)
        for token in re.findall(r"[A-Za-z0-9+/=]{16,}", value):  # base64 inside text (cloud-init's files)
            if len(token) % 4 == 0:
                with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                    out += _strings(base64.b64decode(token, validate=True).decode("utf-8"))
    return out


def _endpoint_ips(cloud: SandboxCloud) -> dict[str, str]:
    """Private endpoint id (lower) -> its IP, from the emulator's store."""
    out = {}
    with cloud.arm.lock:
        for doc in cloud.arm.of_type("Microsoft.Network/privateEndpoints"):
            nic = cloud.arm.get_doc(doc["properties"]["networkInterfaces"][0]["id"])
            ip = nic["properties"]["ipConfigurations"][0]["properties"].get("privateIPAddress") if nic else None
            if ip:
                out[doc["id"].lower()] = ip
    return out


def timeline(cloud: SandboxCloud, since: float, until: float) -> list[Step]:
    """The operations the cloud performed between `since` and `until` (monotonic), with their dependencies."""
    arm = cloud.arm
    with arm.lock:
        arm.tick()  # complete what is due, so every finished operation has its end
        operations = [op for op in arm.operations.values() if since <= op.begun <= until and op.ended is not None]
        links = [dict(link) for link in arm.links.values()]
    wall_offset = time.time() - time.monotonic()  # request log times are wall clock
    requests = [r for r in cloud.admin.requests() if r.method in WRITES and r.status < 300]
    ips = _endpoint_ips(cloud)
    steps: list[Step] = []
    writer_of: dict[str, list[int]] = {}  # resource id (lower) -> its write steps, in order
    bodies: list[Any] = []
    resources: list[str | None] = []

    def add(step: Step, resource: str | None, body: Any) -> int:
        steps.append(step)
        bodies.append(body)
        resources.append(resource)
        if resource is not None:
            writer_of.setdefault(resource.lower(), []).append(len(steps) - 1)
        return len(steps) - 1

    # ARM writes: one step per write request; an LRO's step lasts until its operation ended.
    unmatched = sorted(operations, key=lambda o: o.begun)
    for record in requests:
        at = record.time - wall_offset
        if not since <= at <= until:
            continue
        path = record.path.lower()
        op = next((o for o in unmatched if path.startswith(o.resource_id.lower()) and abs(o.begun - at) < 1.0), None)
        if op is not None:
            unmatched.remove(op)
        end = float(op.ended or op.done_at) if op is not None else at + record.duration
        resource = path if op is None else op.resource_id
        kind = path.split("/")[-2]
        add(Step(f"{record.method} {kind}/{path.rsplit('/', 1)[-1]}", min(at, op.begun if op else at), end),
            resource, None if record.method == "DELETE" else record.body)
    # Confluent approving each private endpoint (the CPL waits for Approved)
    for link in links:
        if link.get("targetKind") == "confluent" and "approvedAt" in link:
            pe = writer_of.get(link["endpointId"].lower())
            if pe:
                start = steps[pe[0]].start
                if since <= start <= until:
                    add(Step(f"Confluent approves {link['endpointId'].rsplit('/', 1)[-1]}", start,
                             float(link["approvedAt"]), {pe[0]}), None, None)
    # Databricks (its own records; times on the wall clock): each NCC rule is CREATING for `creating_seconds`
    # after its create, which needs the target it names to exist.
    dbx = cloud.databricks
    with dbx.lock:
        rules = [dict(rule) for rule in dbx.rules.values()]
    for rule in rules:
        start = rule["creation_time"] / 1000 - wall_offset
        if since <= start <= until:
            index = add(Step("NCC rule CREATING -> PENDING", start, start + dbx.creating_seconds),
                        f"rule:{rule['connection_name']}", None)
            steps[index].deps.update(_writes_before(writer_of, rule["resource_id"], start, steps))
    # dependencies: references, carried endpoint IPs, the previous write of the same resource
    for index, step in enumerate(steps):
        resource = resources[index]
        if resource is not None and "/" in resource:  # a child waits for its parent's creation (a run
            parent = resource.lower().rsplit("/", 2)[0]  # command for its scale set's)
            step.deps.update(_writes_before(writer_of, parent, step.start, steps, first=True))
        body = bodies[index]
        if body is None:
            continue
        for _, ref in refs_in(body):
            for prior in _writes_before(writer_of, ref, step.start, steps):
                step.deps.add(prior)
        text = "\n".join(_strings(body))
        for endpoint, ip in ips.items():
            if re.search(rf"(?<![0-9.]){re.escape(ip)}(?![0-9])", text):  # 10.0.1.4, not 10.0.1.45
                for prior in _writes_before(writer_of, endpoint, step.start, steps):
                    step.deps.add(prior)
    for indexes in writer_of.values():
        for earlier, later in itertools.pairwise(indexes):
            steps[later].deps.add(earlier)
    _approval_steps(steps, writer_of, links, dbx, since, until)
    return steps


def _writes_before(writer_of: dict[str, list[int]], resource: str, at: float, steps: list[Step], *,
                   first: bool = False) -> list[int]:
    """The last (`first`: the first) write of `resource` (or of its parent) started before `at`."""
    key = resource.lower()
    while key:
        found = [i for i in writer_of.get(key, []) if steps[i].start <= at]
        if found:
            return found[:1] if first else found[-1:]
        if "/" not in key.strip("/") or key.count("/") <= 8:
            return []
        key = key.rsplit("/", 2)[0]
    return []


def _approval_steps(steps: list[Step], writer_of: dict[str, list[int]], links: list[dict[str, Any]], dbx: Any,
                    since: float, until: float) -> None:
    """The approval write of an NCC rule's connection waits for the rule to be PENDING; the rule turns
    ESTABLISHED `established_seconds` after it."""
    for link in links:
        if link.get("targetKind") == "confluent" or "approvedAt" not in link:
            continue
        approvals = [i for i, s in enumerate(steps)
                     if s.name.startswith("PUT") and link["name"].lower() in s.name.lower()]
        pending = writer_of.get(f"rule:{link['name']}".lower(), [])
        for approval in approvals:
            steps[approval].deps.update(pending)
        if approvals and dbx is not None and since <= float(link["approvedAt"]) <= until:
            # The connection is Approved when the approval's request is answered (its operation on the
            # target may go on): ESTABLISHED follows from there, beside the rest of that operation.
            steps.append(Step("NCC rule PENDING -> ESTABLISHED", float(link["approvedAt"]),
                              float(link["approvedAt"]) + dbx.established_seconds, set(steps[approvals[-1]].deps)))


def critical_path(steps: list[Step], goal: str | None = None) -> tuple[float, list[Step]]:
    """The longest chain of durations through the dependencies (each step as soon as its dependencies end);
    `goal`: only chains ending in a step whose name contains it."""
    finish: dict[int, float] = {}
    best: dict[int, int | None] = {}
    for index in sorted(range(len(steps)), key=lambda i: steps[i].start):
        step = steps[index]
        before = max((d for d in step.deps if d in finish and d != index), key=lambda d: finish[d], default=None)
        finish[index] = (finish[before] if before is not None else 0.0) + step.seconds
        best[index] = before
    ends = [i for i in finish if goal is None or goal in steps[i].name]
    if not ends:
        return 0.0, []
    last: int | None = max(ends, key=lambda i: finish[i])
    total = finish[last]  # type: ignore[index]
    chain = []
    while last is not None:
        chain.append(steps[last])
        last = best[last]
    return total, list(reversed(chain))


# --- a run -------------------------------------------------------------------------------------------------


def _conditions(obj: dict[str, Any] | None) -> dict[str, str]:
    return {c["type"]: c["status"] for c in ((obj or {}).get("status") or {}).get("conditions") or []}


def _all_ready(cluster: Any, documents: list[dict[str, Any]]) -> bool:
    for doc in documents:
        if doc["kind"] in KINDS:
            obj = cluster.get(doc["apiVersion"], doc["kind"], doc["metadata"]["name"], doc["metadata"]["namespace"])
            if _conditions(obj).get("Ready") != "True":
                return False
    return True


def _wait(probe: Any, timeout: float, what: str, interval: float = 0.05) -> float:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(interval)
    return time.monotonic()


def _applied(cluster: Any, transit: dict[str, Any], ip: str) -> bool:
    obj = cluster.get(transit["apiVersion"], "ServerlessTransit", transit["metadata"]["name"],
                      transit["metadata"]["namespace"]) or {}
    status = obj.get("status") or {}
    haproxy = status.get("haproxy") or {}
    instances = haproxy.get("instances") or []
    return (ip in (status.get("backendIps") or []) and bool(instances)
            and all(i.get("appliedConfigHash") == haproxy.get("desiredConfigHash") for i in instances))


def _cpl_shows(cluster: Any, cpl: dict[str, Any], ip: str) -> bool:
    obj = cluster.get(cpl["apiVersion"], "ConfluentPrivateLink", cpl["metadata"]["name"], cpl["metadata"]["namespace"])
    return any(z.get("privateIp") == ip for z in ((obj or {}).get("status") or {}).get("zones") or [])


@dataclass
class Result:
    option: str
    ready_s: float
    critical_s: float
    chain: list[Step]
    steps: int
    change: tuple[float, float, float, list[Step]] | None = None  # noticed after, applied after, critical, chain


def run_option(option: str, scale: float, logs: Path, ip_change: bool = False) -> Result:
    """A cold start of `option`'s example at `scale`; with `ip_change`, the cold start runs on the fast
    cloud and only the endpoint IP change afterwards on the realistic one (see the module docstring)."""
    documents = load_documents([*sorted(SECRET.glob("*.yaml")), *sorted(OPTIONS[option].glob("*.yaml"))])
    documents = [copy.deepcopy(d) for d in documents]
    for doc in documents:
        doc.pop("status", None)
        if doc["kind"] == "ConfluentPrivateLink" and ip_change:
            doc["spec"]["driftCheckIntervalSeconds"] = 30  # the CRD's minimum: the IP change is noticed sooner
    kube = start_server("embedded")
    try:
        with SandboxCloud(executor=ConfigExecutor()) as cloud:
            if not ip_change:
                apply_profile(cloud, "realistic", scale)
            cluster = kube.client()
            cluster.install_crds(list(yaml.safe_load_all(render_crds_yaml())))
            documents = prepare_customer_side(cloud, cluster, documents)
            kubeconfig = kube.write_kubeconfig(logs / f"{option}.kubeconfig")
            with OperatorProcess([f"--kubeconfig={kubeconfig}", "--no-peering"], cloud=cloud,
                                 log=logs / f"{option}.log", time_scale=scale) as operator:
                operator.wait_healthy(60)
                started = time.monotonic()
                for doc in documents:
                    cluster.apply(doc)
                ready_at = _wait(lambda: _all_ready(cluster, documents), 3600 * scale + 60, f"{option} Ready")
                steps = timeline(cloud, started, ready_at)
                if VERBOSE:
                    for i, st in enumerate(steps):
                        print(f"{i:3} {(st.start - started) / scale:7.1f} {(st.end - started) / scale:7.1f} "
                              f"{st.name} deps={sorted(st.deps)}")
                critical, chain = critical_path(steps)
                result = Result(option, (ready_at - started) / scale, critical / scale, chain, len(steps))
                if ip_change:
                    apply_profile(cloud, "realistic", scale)
                    result.change = _ip_change(cloud, cluster, documents, scale)
                return result
    finally:
        kube.stop()


def _ip_change(cloud: SandboxCloud, cluster: Any, documents: list[dict[str, Any]],
               scale: float) -> tuple[float, float, float, list[Step]]:
    cpl = next(d for d in documents if d["kind"] == "ConfluentPrivateLink")
    transit = next(d for d in documents if d["kind"] == "ServerlessTransit")
    obj = cluster.get(cpl["apiVersion"], "ConfluentPrivateLink", cpl["metadata"]["name"], cpl["metadata"]["namespace"])
    az2 = next(z for z in obj["status"]["zones"] if z["name"] == "az2")
    changed = time.monotonic()
    cloud.admin.set_private_endpoint_ip(az2["privateEndpointId"], NEW_IP)
    noticed = _wait(lambda: _cpl_shows(cluster, cpl, NEW_IP), 120 * scale + 60, "the CPL notices", 0.01)
    applied = _wait(lambda: _applied(cluster, transit, NEW_IP), 600 * scale + 60, "the new IP applied", 0.01)
    critical, chain = critical_path(timeline(cloud, noticed, applied), goal="PUT runcommands/")
    return (noticed - changed) / scale, (applied - noticed) / scale, critical / scale, chain


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="cold starts at 1/20 speed instead of 1/5, the IP change at 1/10 (a smoke run)")
    parser.add_argument("--time-scale", type=float, default=None, metavar="F",
                        help="the cloud's durations and the operator's waits times F (default 0.2; --quick 0.05)")
    parser.add_argument("--ip-change-time-scale", type=float, default=None, metavar="F",
                        help="the same for the endpoint IP change (default 1: full speed, ~20 s; --quick 0.1)")
    parser.add_argument("--option", choices=list(OPTIONS), action="append", default=None)
    args = parser.parse_args(argv)
    scale = args.time_scale or (0.05 if args.quick else 0.2)
    change_scale = args.ip_change_time_scale or (0.1 if args.quick else 1.0)
    results = []
    change = None
    with tempfile.TemporaryDirectory(prefix="time-to-ready-") as tmp:
        change = run_option("haproxy", change_scale, Path(tmp), ip_change=True).change
        for option in args.option or list(OPTIONS):
            result = run_option(option, scale, Path(tmp))
            results.append(result)
            print(f"\n{option}: Ready after {result.ready_s:.0f} s (cloud seconds; wall {result.ready_s * scale:.1f} s "
                  f"at x{scale:g}); critical path {result.critical_s:.0f} s over {result.steps} operations:")
            for step in result.chain:
                print(f"  {step.seconds / scale:7.1f} s  {step.name}")
    print()
    table(["option", "time-to-Ready s", "critical path s", "ratio"],
          [[r.option, round(r.ready_s, 1), round(r.critical_s, 1), div(r.ready_s, r.critical_s)] for r in results])
    if change is not None:
        noticed, applied, critical, chain = change
        print(f"\nendpoint IP change at time scale {change_scale:g}: noticed after {noticed:.1f} s (drift check "
              f"every 30 s), applied {applied:.1f} s later; critical path {critical:.1f} s:")
        for step in chain:
            print(f"  {step.seconds / change_scale:7.1f} s  {step.name}")
    print("\n(every figure in cloud seconds: measured at the time scale named and divided by it)")
    for result in results:
        ratio(f"time-to-Ready/critical path {result.option}", div(result.ready_s, result.critical_s), "target <= 1.1")
    if change is not None:
        ratio("IP-change-to-applied/critical path", div(change[1], change[2]), "target <= 1.1")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
