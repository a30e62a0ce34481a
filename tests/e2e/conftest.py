"""End-to-end: the whole operator (kopf runtime + the real reconcilers + the real SDK clients) against a
Kubernetes API and the sandbox cloud, with the examples' CRs — on both API servers: every test runs
`[embedded]` (the emulator, fresh per test) and `[real]` (the session's kube-apiserver + etcd).

Each test gets a fresh `System`: a `SandboxCloud` (ARM + Databricks over HTTPS, instances that answer the
apply script's contract), its own namespace holding the example CRs (moved there from the files'
namespaces), the CRDs generated from the API models, the customer's side prepared exactly as
`transit-operator sandbox` does (Databricks accounts and workspaces, VNets and subnets, credentials
Secrets with the sandbox token), and the operator running in the test's event loop, watching that
namespace. The tests reach Kubernetes only through its API (`KubeClient`, kubectl); the operator logs in
with a kubeconfig and reads Secrets with `run`'s own reader (`kubernetes_secret_reader`).
Timing only: LROs take 50 ms, requeues are capped at 0.5 s and drift checks run every second
(`Runtime(max_requeue_seconds=, drift_seconds=)`), so the emulated cloud converges in seconds.

Every ARM exchange of every test here is checked against the Azure REST specs at the served api-versions
(`transit_sandbox.conformance`, built from the SDKs' generated models): a request the operator sends or a
response the emulator gives that the spec does not allow fails the test, in either direction.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest
import yaml

from transit_operator.api.crd import render_crds_yaml
from transit_operator.cloud.context import CloudContext
from transit_operator.runtime.driver import Reconcilers, Runtime
from transit_operator.runtime.main import build_settings, kubernetes_secret_reader, operate
from transit_operator.runtime.sandbox import OPTION_EXAMPLES, is_ready, load_documents, prepare_customer_side
from transit_sandbox.executor import ConfigExecutor
from transit_sandbox.kube import KubeClient
from transit_sandbox.server import SandboxCloud

API_VERSION = "transit.privatelink.io/v1alpha1"
CPL, SXT = "ConfluentPrivateLink", "ServerlessTransit"
T = TypeVar("T")


def example(option: str, namespace: str) -> list[dict[str, Any]]:
    """The option's example CRs (ConfluentPrivateLink first) in `namespace`, without the status the files
    carry. References (the ConfluentPrivateLink, the credentials Secret) are by name in the CR's own
    namespace, so moving them all together keeps them intact."""
    documents = copy.deepcopy(load_documents(OPTION_EXAMPLES[option]))
    for doc in documents:
        doc.pop("status", None)
        doc["metadata"]["namespace"] = namespace
    return documents


def of_kind(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(doc for doc in documents if doc["kind"] == kind)




class System:
    """A cluster (one namespace of it) and the sandbox cloud, and the operator running against them."""

    def __init__(self, cloud: SandboxCloud, cluster: KubeClient, namespace: str, executor: ConfigExecutor) -> None:
        self.cloud, self.cluster, self.namespace, self.executor = cloud, cluster, namespace, executor
        self.operator: asyncio.Task[None] | None = None
        self.runtime: Runtime | None = None

    def example(self, option: str) -> list[dict[str, Any]]:
        return example(option, self.namespace)

    # --- the customer's side and the CRs -------------------------------------------------------------
    def prepare(self, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """What `transit-operator sandbox` does before applying: accounts, workspaces, VNets, Secrets."""
        return prepare_customer_side(self.cloud, self.cluster, documents)

    def apply_all(self, documents: list[dict[str, Any]]) -> None:
        for doc in self.prepare(documents):
            self.cluster.apply(doc)

    def get(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        meta = doc["metadata"]
        return self.cluster.get(doc["apiVersion"], doc["kind"], meta["name"], meta.get("namespace"))

    def delete(self, doc: dict[str, Any]) -> None:
        meta = doc["metadata"]
        self.cluster.delete(doc["apiVersion"], doc["kind"], meta["name"], meta["namespace"])

    def patch_spec(self, doc: dict[str, Any], spec: dict[str, Any]) -> None:
        meta = doc["metadata"]
        self.cluster.patch(doc["apiVersion"], doc["kind"], meta["name"], meta["namespace"], {"spec": spec})

    async def ready(self, doc: dict[str, Any], timeout: float = 20.0) -> dict[str, Any]:
        return await eventually(lambda: (obj := self.get(doc)) is not None and is_ready(obj) and obj, timeout)

    # --- the operator -------------------------------------------------------------------------------
    async def start_operator(self) -> Runtime:
        """A fresh operator process: its own CloudContext (SDK clients), runtime state and kopf."""
        context = CloudContext.for_sandbox(self.cloud.arm_url, self.cloud.ca_bundle, self.cloud.token,
                                           self.cloud.databricks_url, polling_interval=0.05)
        kubeconfig = str(self.cluster.kubeconfig)
        context.read_secret = kubernetes_secret_reader(kubeconfig)
        runtime = Runtime(context, Reconcilers.load(), tick_seconds=0.2, backoff_seconds=0.2,
                          max_requeue_seconds=0.5, drift_seconds=1.0)
        ready = asyncio.Event()
        self.operator = asyncio.create_task(
            operate(runtime, build_settings(standalone=True), namespaces=[self.namespace], kubeconfig=kubeconfig,
                    ready_flag=ready))
        await asyncio.wait_for(ready.wait(), 15)
        self.runtime = runtime
        return runtime

    async def kill_operator(self) -> None:
        """Cancel the operator's task, as a killed process would stop: no clean-up, no goodbye."""
        if self.operator is not None:
            self.operator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self.operator, 15)
            self.operator = None

    # --- what the cloud holds -------------------------------------------------------------------------
    def arm_resources(self, resource_group: str | None = None) -> dict[str, dict[str, Any]]:
        """Stored ARM resources by id (lower-cased), optionally of one resource group."""
        return {doc["id"].lower(): doc for doc in self.cloud.admin.resources()
                if resource_group is None or f"/resourcegroups/{resource_group.lower()}/" in doc["id"].lower()}

    def arm_counts(self, resource_group: str) -> Counter[str]:
        return Counter(doc["type"] for doc in self.arm_resources(resource_group).values())

    def arm_creates(self) -> Counter[str]:
        """ARM PUTs answered 201 Created, by resource path."""
        return Counter(r.path.lower() for r in self.cloud.admin.requests("PUT") if r.status == 201)

    def databricks_creates(self) -> Counter[str]:
        """Databricks POSTs (NCC and rule creation) by kind of object."""
        kinds: Counter[str] = Counter()
        for request in self.cloud.databricks.requests():
            if request.method == "POST" and request.status == 200:
                kinds["rule" if request.path.endswith("private-endpoint-rules") else "ncc"] += 1
        return kinds


async def eventually(probe: Callable[[], T | bool | None], timeout: float = 20.0) -> T:
    """Poll `probe` until it returns something truthy (without blocking the operator's event loop)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def system(cluster: KubeClient, kube_namespace: str) -> AsyncIterator[System]:
    executor = ConfigExecutor()
    with SandboxCloud(executor=executor, check_conformance=True) as cloud:
        cloud.admin.set_lro_seconds(None, 0.05)
        cluster.install_crds(list(yaml.safe_load_all(render_crds_yaml())))
        made = System(cloud, cluster, kube_namespace, executor)
        await made.start_operator()
        try:
            yield made
        finally:
            await made.kill_operator()
        violations = cloud.admin.take_violations()
        assert violations == [], "\n".join(str(v) for v in violations[:40])
