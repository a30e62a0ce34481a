"""Run the hostile corpus (`tests.hostile.corpus`) through `transit-operator plan` and through the whole
operator against the sandbox, and judge every case. Used by the test suite and `bench/hostile_inputs.py`.

The cluster run is one sandbox cloud, one emulated Kubernetes API with the generated CRDs and one operator
(`--time-scale 0.01`: the emulated cloud finishes in milliseconds what Azure takes minutes for), the
customer's network made through the ARM SDK (never from the corpus' own subnet ids: a "missing subnet"
must stay missing), and every case applied over HTTP as `kubectl apply` would send it. A case is judged
once its verdict shows (the API server's answer, or the object's Ready condition at its generation) and
the operator has had time to act on it; then the sandbox's request logs say which cloud writes it caused
(each case has its own resource group and Databricks account).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from azure.core.credentials import AccessToken
from azure.mgmt.network import NetworkManagementClient

from transit_operator.api.crd import render_crds_yaml
from transit_operator.cloud.context import CloudContext
from transit_operator.plan.command import run_plan
from transit_operator.runtime.driver import Reconcilers, Runtime
from transit_operator.runtime.main import build_settings, kubernetes_secret_reader, operate
from transit_sandbox.executor import ConfigExecutor
from transit_sandbox.kube import KubeEmulator
from transit_sandbox.server import SandboxCloud

from .corpus import (
    API_VERSION,
    BASE_CPL,
    CANARY,
    CASES,
    LOCATION,
    NAMESPACE,
    NETWORK,
    SUBSCRIPTION,
    VNET,
    Case,
    account_of,
    workspace_of,
)

__all__ = [
    "ClusterVerdict",
    "PlanVerdict",
    "apply",
    "judge_plan",
    "ready_condition",
    "run_cluster",
    "sandbox",
    "sandboxed_operator",
]

TIME_SCALE = 0.01
_PLURALS = {"ConfluentPrivateLink": "confluentprivatelinks", "ServerlessTransit": "serverlesstransits"}


# ---------------------------------------------------------------------------------------------------- plan

@dataclass
class PlanVerdict:
    case: Case
    code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        if "Traceback" in self.stderr or self.leaked:
            return False
        if self.case.plan == "accept":
            return self.code == 0
        return self.code == 2 and (self.case.plan_path or self.case.path) in self.stderr

    @property
    def leaked(self) -> bool:
        return CANARY in self.stdout or CANARY in self.stderr


def _file_text(case: Case) -> bytes:
    parts: list[bytes] = []
    if any(isinstance(d, dict) and d.get("kind") == "ServerlessTransit" for d in case.documents):
        parts.append(yaml.safe_dump(BASE_CPL).encode())
    for document in case.documents:
        parts.append(document if isinstance(document, bytes) else yaml.safe_dump(document).encode())
    return b"\n---\n".join(parts)


def judge_plan(case: Case, tmp: Path) -> PlanVerdict:
    path = tmp / f"{case.index}.yaml"
    path.write_bytes(_file_text(case))
    out, err = io.StringIO(), io.StringIO()
    code = run_plan([str(path)], "json", stdout=out, stderr=err)
    return PlanVerdict(case, code, out.getvalue(), err.getvalue())


# ------------------------------------------------------------------------------------------------ cluster

@dataclass
class ClusterVerdict:
    case: Case
    refused_by_api: str | None = None  # the API server's message for the first refused document
    applied: list[str] = field(default_factory=list)
    condition: dict[str, Any] | None = None  # the target's Ready condition at its generation
    arm_writes: list[str] = field(default_factory=list)
    databricks_writes: list[str] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return len(self.arm_writes) + len(self.databricks_writes)

    @property
    def refused(self) -> bool:
        """Refused, naming what it must name, with no cloud write."""
        if self.writes:
            return False
        if self.refused_by_api is not None:
            return self.case.path in self.refused_by_api
        ready = self.condition or {}
        return ready.get("status") == "False" and self.case.path in ready.get("message", "")

    @property
    def ok(self) -> bool:
        if self.case.cluster == "api":
            return self.refused_by_api is not None and self.refused
        if self.case.cluster == "operator":
            return self.refused_by_api is None and self.refused
        # harmless: stored and converged (writes are checked against its own groups by `run_cluster`)
        return self.refused_by_api is None and (self.condition or {}).get("status") == "True"


class _StaticToken:
    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, 2**31)


def _url(document: dict[str, Any] | None) -> str:
    if document is None or document.get("apiVersion") != API_VERSION:
        kind = (document or {}).get("kind")
        if kind == "Secret":
            return f"/api/v1/namespaces/{NAMESPACE}/secrets"
        return f"/apis/{API_VERSION}/namespaces/{NAMESPACE}/confluentprivatelinks"
    return f"/apis/{API_VERSION}/namespaces/{NAMESPACE}/{_PLURALS[document['kind']]}"


def _post(kube: KubeEmulator, document: dict[str, Any] | bytes) -> str | None:
    """POST a document as `kubectl apply` would send it; the API server's refusal message, or None."""
    if isinstance(document, bytes):
        body, url, content_type = document, _url(None), "application/yaml"
    else:
        body, url, content_type = json.dumps(document).encode(), _url(document), "application/json"
    request = urllib.request.Request(kube.url + url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60):
            return None
    except urllib.error.HTTPError as exc:
        try:
            return str(json.loads(exc.read()).get("message", ""))
        except ValueError:
            return f"HTTP {exc.code}"


def _prepare_world(cloud: SandboxCloud, cases: Iterable[Case]) -> None:
    network = NetworkManagementClient(_StaticToken(cloud.token), SUBSCRIPTION, base_url=cloud.arm_url,
                                      connection_verify=cloud.ca_bundle, polling_interval=0.05)
    vnet_name = VNET.rsplit("/", 1)[-1]
    network.virtual_networks.begin_create_or_update("rg-h-network", vnet_name, {
        "location": LOCATION,
        "properties": {
            "addressSpace": {"addressPrefixes": ["10.50.0.0/16"]},
            "subnets": [{"name": name, "properties": {
                "addressPrefix": prefix, "privateEndpointNetworkPolicies": "Disabled",
                "privateLinkServiceNetworkPolicies": "Disabled"}} for name, prefix in NETWORK.items()],
        },
    }).result()
    for case in [*cases]:
        if case.account is not None:
            cloud.databricks.add_account(case.account)
            cloud.databricks.add_workspace(workspace_of(case.index), LOCATION, f"ws-{case.index}",
                                           account_id=account_of(case.index))


def _ready(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """The Ready condition when it is about the object's current generation."""
    if obj is None:
        return None
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("observedGeneration") == obj["metadata"].get("generation"):
            return dict(condition)
    return None


def _settled(case: Case, condition: dict[str, Any] | None) -> bool:
    if condition is None:
        return False
    if case.cluster == "api":  # a document was refused; the rest (e.g. a transit without its Secret) waits
        return True
    if case.cluster == "operator":
        return condition.get("status") == "False" and case.path in condition.get("message", "")
    return condition.get("status") == "True"


@contextlib.asynccontextmanager
async def sandboxed_operator(cloud: SandboxCloud, kube: KubeEmulator) -> AsyncIterator[Runtime]:
    """The operator (`--time-scale 0.01`) running in this event loop against `kube` and `cloud`."""
    context = CloudContext.for_sandbox(cloud.arm_url, cloud.ca_bundle, cloud.token, cloud.databricks_url,
                                       polling_interval=0.05)
    context.read_secret = kubernetes_secret_reader(str(kube.kubeconfig))
    runtime = Runtime(context, Reconcilers.load(), tick_seconds=0.2, time_scale=TIME_SCALE)
    ready = asyncio.Event()
    settings = build_settings(standalone=True, max_workers=16)
    operator = asyncio.create_task(operate(runtime, settings, kubeconfig=str(kube.kubeconfig), ready_flag=ready))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        yield runtime
    finally:
        operator.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(operator, 30)


@contextlib.contextmanager
def sandbox(cases: Iterable[Case] = ()) -> Iterator[tuple[SandboxCloud, KubeEmulator]]:
    """The sandbox cloud and the emulated Kubernetes API with the CRDs, the namespace, the customer's network
    and the Databricks accounts and workspaces of `cases`."""
    with SandboxCloud(executor=ConfigExecutor()) as cloud, KubeEmulator() as kube:
        cloud.admin.set_lro_seconds(None, 0.05)
        cluster = kube.client()
        cluster.install_crds(list(yaml.safe_load_all(render_crds_yaml())))
        cluster.ensure_namespace(NAMESPACE)
        _prepare_world(cloud, cases)
        cloud.admin.clear_requests()
        cloud.databricks.clear_request_log()
        yield cloud, kube


def apply(kube: KubeEmulator, document: dict[str, Any] | bytes) -> str | None:
    """Apply one document over HTTP; the API server's refusal message, or None."""
    return _post(kube, document)


def ready_condition(kube: KubeEmulator, document: dict[str, Any]) -> dict[str, Any] | None:
    return _ready(kube.client().get(API_VERSION, document["kind"], document["metadata"]["name"], NAMESPACE))


async def _run(cloud: SandboxCloud, kube: KubeEmulator, cases: list[Case], timeout: float) -> dict[str, ClusterVerdict]:
    async with sandboxed_operator(cloud, kube):
        verdicts = {case.id: ClusterVerdict(case) for case in cases}
        assert _post(kube, BASE_CPL) is None
        for case in cases:
            verdict = verdicts[case.id]
            for document in case.documents:
                refused = await asyncio.to_thread(_post, kube, document)
                if refused is not None and verdict.refused_by_api is None:
                    verdict.refused_by_api = refused
                elif refused is None and isinstance(document, dict):
                    verdict.applied.append(document.get("kind", "?"))
        pending = {c.id for c in cases if c.target is not None and verdicts[c.id].applied
                   and c.target.get("kind") in verdicts[c.id].applied}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for case_id in list(pending):
                verdict = verdicts[case_id]
                target = verdict.case.target
                assert target is not None
                verdict.condition = ready_condition(kube, target)
                if _settled(verdict.case, verdict.condition):
                    pending.discard(case_id)
            await asyncio.sleep(0.25)
        # Give every object more passes (at this time scale, minutes of operator time) to do anything else.
        await asyncio.sleep(2.0)
        for verdict in verdicts.values():
            target = verdict.case.target
            if target is not None and verdict.applied:
                verdict.condition = ready_condition(kube, target) or verdict.condition
        return verdicts


@dataclass
class ClusterRun:
    verdicts: dict[str, ClusterVerdict]
    unattributed_writes: list[str]  # cloud writes no case's resource group or account explains
    observable: str  # statuses, Events and log text: searched for CANARY
    reconcile_errors: list[str]  # ReconcileError Events: an exception escaped a reconciler (a bug)

    @property
    def leaks(self) -> int:
        return self.observable.count(CANARY)


def run_cluster(cases: Iterable[Case] = CASES, timeout: float = 120.0) -> ClusterRun:
    """The whole corpus through the operator (see the module docstring)."""
    selected = list(cases)
    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    capture = Capture(logging.DEBUG)
    capture.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        with sandbox(selected) as (cloud, kube):
            verdicts = asyncio.run(_run(cloud, kube, selected, timeout))
            arm = [f"{r.method} {r.path}" for r in cloud.admin.writes()]
            databricks = [f"{r.method} {r.path}" for r in cloud.databricks.requests() if r.method != "GET"]
            unattributed = []
            for write in [*arm, *databricks]:
                owners = [v for v in verdicts.values()
                          if any(f"/resourcegroups/{g.lower()}/" in write.lower() for g in v.case.resource_groups)
                          or (v.case.account is not None and v.case.account in write)]
                for owner in owners:
                    (owner.arm_writes if write in arm else owner.databricks_writes).append(write)
                if not owners and "/resourcegroups/rg-h-base/" not in write.lower():
                    unattributed.append(write)  # e.g. anything in the customer's network group
            cluster = kube.client()
            objects = [o for kind in _PLURALS for o in cluster.list_objects(API_VERSION, kind, NAMESPACE)]
            events = cluster.list_objects("v1", "Event", NAMESPACE)
            observable = json.dumps([o.get("status") for o in objects]) + json.dumps(events) + "\n".join(records)
            errors = [f"{e['involvedObject'].get('name')}: {e.get('message')}" for e in events
                      if e.get("reason") == "ReconcileError"]
            return ClusterRun(verdicts, unattributed, observable, errors)
    finally:
        root.removeHandler(capture)
        root.setLevel(previous_level)
