"""The fault matrix: the servers the operator talks to fail it on every kind of call, and it still converges.

Each case injects one fault into a cold start (or a delete) of an option's examples, with the operator
in-process (`InProcessOperator`: `run`'s runtime at `--time-scale 0.01`):

    ARM             reads, writes, LRO status polls: 429 with Retry-After (once, and sustained past
                    azure-core's own retries), 500/503, the connection reset mid-answer (the write applied);
                    an LRO that ends Failed or Canceled
    Databricks      reads and writes: 429/503 with Retry-After, 500, reset mid-answer (the create applied)
    Kubernetes      (`KubeProxy`) 409 Conflict on a status patch, a watch ending in 410 Expired, 429 with
                    Retry-After and 5xx on lists, patches and Events, a status patch reset mid-answer

A case has *converged* when the phase ends (every object Ready, or gone) and the cloud holds exactly what
a run without the fault leaves (nothing duplicated, nothing leaked, nothing created twice), and the
server's hint was honoured: after every faulted answer carrying `Retry-After: R`, the next request of the
same kind (method and path) arrived no sooner than R seconds after the answer left. A fault the run never
hit (the operator makes no such call) is *not exercised* and counted apart, never as converged.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .world import CPL, SXT, Snapshot, World, is_ready, wait_for

Phase = Literal["create", "delete"]
Service = Literal["arm", "databricks", "kubernetes"]
RETRY_AFTER = 2  # seconds: an integer, as HTTP's Retry-After is
CONVERGE_SECONDS = 90.0


@dataclass(frozen=True)
class Attempt:
    """One request as a server logged it: when it arrived and when its answer left (wall clock)."""

    method: str
    path: str
    status: int
    arrived: float
    answered: float
    injected: bool  # answered by the injected fault


@dataclass(frozen=True)
class FaultCase:
    option: str
    call: str  # the call type, in words ("ARM read", "Kubernetes status patch", ...)
    fault: str  # "429 + Retry-After", "503", "reset", "LRO Failed", ...
    service: Service
    method: str | None  # what the fault matches (None: any method)
    path: str  # a regex searched in the request path (case-insensitive)
    status: int = 0  # the HTTP status answered (0: reset or LRO outcome)
    count: int = 1
    retry_after: int | None = None
    kind: Literal["status", "reset", "lro", "watch_expired"] = "status"
    phase: Phase = "create"
    code: str = ""  # the error code in the body (ARM, Databricks) or the LRO outcome's status
    note: str = ""  # why a case may not be exercised
    watch: bool | None = None  # Kubernetes: only watch requests (True), only others (False), either (None)

    @property
    def id(self) -> str:
        words = f"{self.option} {self.phase} {self.call} {self.fault} x{self.count}"
        return re.sub(r"[^A-Za-z0-9]+", "-", words).strip("-")


@dataclass
class FaultVerdict:
    case: FaultCase
    fired: int = 0
    problems: list[str] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)  # seconds from each hinted answer to the next attempt

    @property
    def exercised(self) -> bool:
        return self.fired > 0

    @property
    def converged(self) -> bool:
        return self.exercised and not self.problems


# ------------------------------------------------------------------------------------------ injecting

def inject(world: World, case: FaultCase) -> Callable[[], int]:
    """Arm the case's fault; returns how many requests it has answered so far."""
    if case.service == "kubernetes":
        assert world.proxy is not None
        kind: Any = "status" if case.kind == "status" else case.kind
        fault = world.proxy.inject_fault(case.method, case.path, case.status, count=case.count, kind=kind,
                                         retry_after=case.retry_after,
                                         watch=True if case.kind == "watch_expired" else case.watch)
        return lambda: fault.fired
    if case.service == "databricks":
        dbx = world.cloud.databricks.inject_fault(case.method or "", case.path, case.status, case.code or "ERROR",
                                                  f"injected {case.fault}", case.count,
                                                  retry_after=case.retry_after, reset=case.kind == "reset")
        return lambda: case.count - dbx.times
    if case.kind == "lro":
        failure = world.cloud.admin.fail_lro(case.path, code="InternalServerError",
                                             message=f"injected LRO {case.code}", count=case.count, status=case.code)
        return lambda: case.count - failure.count
    rule = world.cloud.admin.inject_fault(case.path, status=case.status or 200, count=case.count, method=case.method,
                                          retry_after=case.retry_after, code=case.code or None,
                                          reset=case.kind == "reset")
    return lambda: case.count - rule.count


def attempts(world: World, case: FaultCase) -> list[Attempt]:
    """Every request of the case's service that the fault could match, in order of arrival."""
    pattern = re.compile(case.path, re.IGNORECASE)
    found: list[Attempt] = []
    if case.service == "kubernetes":
        assert world.proxy is not None
        for r in world.proxy.requests():
            found.append(Attempt(r.method, r.path + ("?watch" if "watch=" in r.query else ""), r.status, r.time,
                                 r.time + r.duration, r.fault is not None))
    elif case.service == "databricks":
        for d in world.cloud.databricks.requests():
            found.append(Attempt(d.method, d.path, d.status, d.time, d.time + d.duration, d.injected))
    else:
        for a in world.cloud.admin.requests():
            found.append(Attempt(a.method, a.path, a.status, a.time, a.time + a.duration, a.injected))
    return [a for a in found if pattern.search(a.path) and (case.method is None or a.method == case.method)]


def hint_waits(world: World, case: FaultCase) -> list[float]:
    """Seconds between each faulted answer (its status, carrying Retry-After) and the next same request."""
    if case.retry_after is None:
        return []
    seen = attempts(world, case)
    waits = []
    for i, faulted in enumerate(seen):
        if not faulted.injected or faulted.status != case.status:
            continue
        later = next((a for a in seen[i + 1:] if a.method == faulted.method and a.path == faulted.path), None)
        if later is not None:
            waits.append(later.arrived - faulted.answered)
    return waits


# ------------------------------------------------------------------------------------------ the cases

NO_POLLS = ("the operator polls no LRO status URL: it starts every long-running operation with polling=False "
            "and reads the resource back with a GET")
CASES: list[FaultCase] = [
    # ARM reads
    FaultCase("haproxy", "ARM read", "429 + Retry-After", "arm", "GET", "/privateLinkServices/pls-", 429,
              retry_after=RETRY_AFTER),
    FaultCase("haproxy", "ARM read", "429 + Retry-After, sustained", "arm", "GET", "/privateLinkServices/pls-", 429,
              count=6, retry_after=RETRY_AFTER),
    FaultCase("haproxy", "ARM read", "503", "arm", "GET", "/loadBalancers/lb-", 503, count=2),
    FaultCase("haproxy", "ARM read", "500", "arm", "GET", "/networkInterfaces/", 500),
    FaultCase("haproxy", "ARM read", "reset", "arm", "GET", "/privateDnsZones/n-", kind="reset"),
    FaultCase("haproxy", "ARM read", "reset, sustained", "arm", "GET", "/networkSecurityGroups/nsg-", kind="reset",
              count=5),
    # ARM writes
    FaultCase("haproxy", "ARM write", "429 + Retry-After", "arm", "PUT", "/privateEndpoints/pe-", 429,
              retry_after=RETRY_AFTER),
    FaultCase("haproxy", "ARM write", "503 + Retry-After, sustained", "arm", "PUT", "/loadBalancers/lb-", 503,
              count=6, retry_after=RETRY_AFTER),
    FaultCase("haproxy", "ARM write", "500", "arm", "PUT", "/networkSecurityGroups/nsg-", 500, count=2),
    FaultCase("haproxy", "ARM write (endpoint)", "reset", "arm", "PUT", "/privateEndpoints/pe-", kind="reset"),
    FaultCase("haproxy", "ARM write (DNS record)", "reset", "arm", "PUT",
              "/privateDnsZones/n-dev42.westeurope.azure.confluent.cloud/A/", kind="reset"),
    FaultCase("haproxy", "ARM write", "reset, sustained", "arm", "PUT", "/loadBalancers/lb-", kind="reset", count=5),
    FaultCase("haproxy", "ARM write (approval)", "429 + Retry-After", "arm", "PUT", "/privateEndpointConnections/",
              429, retry_after=RETRY_AFTER),
    FaultCase("haproxy", "ARM write (run command)", "429 + Retry-After", "arm", "PUT", "/runcommands/", 429,
              retry_after=RETRY_AFTER),
    FaultCase("haproxy", "ARM write (run command)", "reset", "arm", "PUT", "/runcommands/", kind="reset"),
    FaultCase("haproxy", "ARM read (run commands)", "503 + Retry-After", "arm", "GET", "/runcommands", 503,
              retry_after=RETRY_AFTER),
    # ARM LROs: status polls (none are made: every LRO starts with polling=False and is read back with a GET
    # of the resource, which the read faults above cover; the cases stay to show it), outcomes
    FaultCase("haproxy", "ARM LRO poll", "429 + Retry-After", "arm", "GET", "/operations/", 429,
              retry_after=RETRY_AFTER, note=NO_POLLS),
    FaultCase("haproxy", "ARM LRO poll", "500", "arm", "GET", "/operations/", 500, note=NO_POLLS),
    FaultCase("haproxy", "ARM LRO", "Failed", "arm", None, "/privateendpoints/", kind="lro", code="Failed"),
    FaultCase("haproxy", "ARM LRO", "Canceled", "arm", None, "/loadbalancers/", kind="lro", code="Canceled"),
    # Databricks
    FaultCase("haproxy", "Databricks read", "429 + Retry-After", "databricks", "GET", r"/network-connectivity-configs$",
              429, retry_after=RETRY_AFTER, code="REQUEST_LIMIT_EXCEEDED"),
    FaultCase("haproxy", "Databricks read", "500", "databricks", "GET", r"/workspaces/\d+$", 500,
              code="INTERNAL_ERROR"),
    FaultCase("haproxy", "Databricks write", "503 + Retry-After", "databricks", "POST",
              r"/network-connectivity-configs$", 503, retry_after=RETRY_AFTER, code="TEMPORARILY_UNAVAILABLE"),
    FaultCase("haproxy", "Databricks write", "429 + Retry-After, sustained", "databricks", "POST",
              r"/private-endpoint-rules$", 429, count=6, retry_after=RETRY_AFTER, code="REQUEST_LIMIT_EXCEEDED"),
    FaultCase("haproxy", "Databricks write", "500", "databricks", "PATCH", r"/workspaces/\d+$", 500,
              code="INTERNAL_ERROR"),
    FaultCase("haproxy", "Databricks write (NCC)", "reset", "databricks", "POST", r"/network-connectivity-configs$",
              kind="reset"),
    FaultCase("haproxy", "Databricks write (rule)", "reset", "databricks", "POST", r"/private-endpoint-rules$",
              kind="reset"),
    # Kubernetes
    FaultCase("haproxy", "Kubernetes status patch", "409", "kubernetes", "PATCH", r"/serverlesstransits/[^/]+/status$",
              409),
    FaultCase("haproxy", "Kubernetes status patch", "429 + Retry-After", "kubernetes", "PATCH",
              r"/confluentprivatelinks/[^/]+/status$", 429, retry_after=RETRY_AFTER),
    FaultCase("haproxy", "Kubernetes status patch", "500", "kubernetes", "PATCH", r"/confluentprivatelinks/[^/]+/status$",
              500, count=2),
    FaultCase("haproxy", "Kubernetes status patch", "reset", "kubernetes", "PATCH",
              r"/serverlesstransits/[^/]+/status$", kind="reset"),
    FaultCase("haproxy", "Kubernetes object patch", "503", "kubernetes", "PATCH", r"/serverlesstransits/[^/]+$", 503),
    FaultCase("haproxy", "Kubernetes watch", "410 Expired", "kubernetes", "GET", r"/confluentprivatelinks$", 410,
              kind="watch_expired"),
    FaultCase("haproxy", "Kubernetes list", "429 + Retry-After", "kubernetes", "GET", r"/serverlesstransits$", 429,
              retry_after=RETRY_AFTER, watch=False),
    FaultCase("haproxy", "Kubernetes list", "reset", "kubernetes", "GET", r"/confluentprivatelinks$", kind="reset",
              watch=False),
    FaultCase("haproxy", "Kubernetes watch", "503", "kubernetes", "GET", r"/serverlesstransits$", 503, count=2,
              watch=True),
    FaultCase("haproxy", "Kubernetes Event", "500", "kubernetes", "POST", r"/events$", 500, count=3),
    # a delete
    FaultCase("haproxy", "ARM write", "429 + Retry-After", "arm", "DELETE", "/privateLinkServices/pls-", 429,
              retry_after=RETRY_AFTER, phase="delete"),
    FaultCase("haproxy", "ARM write", "reset", "arm", "DELETE", "/loadBalancers/lb-", kind="reset", phase="delete"),
    FaultCase("haproxy", "Databricks write", "503 + Retry-After", "databricks", "DELETE", r"/private-endpoint-rules/",
              503, retry_after=RETRY_AFTER, code="TEMPORARILY_UNAVAILABLE", phase="delete"),
    FaultCase("haproxy", "Kubernetes object patch", "503", "kubernetes", "PATCH", r"/serverlesstransits/[^/]+$", 503,
              phase="delete"),
    # the Application Gateway option
    FaultCase("applicationGateway", "ARM write", "429 + Retry-After", "arm", "PUT", "/applicationGateways/agw-", 429,
              retry_after=RETRY_AFTER),
    FaultCase("applicationGateway", "ARM read", "503", "arm", "GET", "/applicationGateways/agw-", 503, count=2),
    FaultCase("applicationGateway", "ARM LRO", "Failed", "arm", None, "/applicationgateways/", kind="lro",
              code="Failed"),
    FaultCase("applicationGateway", "ARM write (approval)", "reset", "arm", "PUT", "/privateEndpointConnections/",
              kind="reset"),
]


# ------------------------------------------------------------------------------------------ running

def reference(option: str, phase: Phase) -> Snapshot:
    """What the cloud holds after the phase without a fault (the operator in-process, as in the cases)."""
    with World(option) as world:
        world.start_in_process()
        world.apply()
        world.ready()
        if phase == "delete":
            world.delete()
            world.gone()
        return world.snapshot()


def run_case(case: FaultCase, expected: Snapshot) -> FaultVerdict:
    verdict = FaultVerdict(case)
    with World(case.option) as world:
        operator = world.start_in_process()
        if case.phase == "delete":
            world.apply()
            world.ready()
        fired = inject(world, case)
        if case.phase == "create":
            world.apply()
            done = lambda: all(is_ready(world.get(doc)) for doc in world.crs)  # noqa: E731
        else:
            world.delete()
            done = lambda: all(world.get(doc) is None for doc in world.crs)  # noqa: E731
        try:
            wait_for(done, CONVERGE_SECONDS, f"{case.id}: converged", interval=0.2)
            if not fired():  # done without the call the fault waits for: a moment more, then not exercised
                time.sleep(2.0)
        except AssertionError:
            verdict.problems.append(f"not converged: {world.conditions()}")
        verdict.fired = fired()
        if verdict.fired and not done():
            verdict.problems.append(f"not converged: {world.conditions()}")
        if not verdict.exercised:
            return verdict
        verdict.problems += [f"cloud: {line}" for line in world.snapshot().difference(expected)]
        verdict.problems += [f"created {n} times: {what}" for what, n in world.created_twice().items()]
        verdict.waits = hint_waits(world, case)
        early = [w for w in verdict.waits if w < (case.retry_after or 0)]
        if early:
            verdict.problems.append(f"Retry-After {case.retry_after} s not honoured: next attempts after "
                                    f"{', '.join(f'{w:.2f}' for w in early)} s")
        if case.retry_after is not None and not verdict.waits:
            verdict.problems.append("no attempt after a hinted answer to measure")
        if verdict.problems:
            verdict.problems.append("log tail:\n" + operator.log_tail())
    return verdict


def run_matrix(cases: list[FaultCase] | None = None, report: Callable[[FaultVerdict], None] = lambda v: None
               ) -> list[FaultVerdict]:
    selected = cases if cases is not None else CASES
    references: dict[tuple[str, Phase], Snapshot] = {}
    verdicts = []
    for case in selected:
        key = (case.option, case.phase)
        if key not in references:
            references[key] = reference(*key)
        started = time.monotonic()
        verdict = run_case(case, references[key])
        verdicts.append(verdict)
        report(verdict)
        del started
    return verdicts


__all__ = ["CASES", "CPL", "SXT", "FaultCase", "FaultVerdict", "run_case", "run_matrix"]
