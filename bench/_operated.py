"""The whole system for a benchmark that needs the operator itself: the sandbox cloud (with the caller's
instance executor), the embedded Kubernetes API with the CRDs, the customer's side prepared and the CRs
applied as `transit-operator sandbox` does it (`runtime.sandbox.prepare_customer_side`), and the operator
(kopf, the real reconcilers and SDK clients, logged in with a kubeconfig, Secrets read with `run`'s own
reader) running in a thread of its own while the benchmark works in the main thread. Not a library: `bench/dataplane.py` uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import yaml

from transit_operator.api.crd import render_crds_yaml
from transit_operator.cloud.context import CloudContext
from transit_operator.runtime.driver import Reconcilers, Runtime
from transit_operator.runtime.main import build_settings, kubernetes_secret_reader, operate
from transit_operator.runtime.sandbox import prepare_customer_side
from transit_sandbox.kube import KubeEmulator
from transit_sandbox.server import SandboxCloud

T = TypeVar("T")
API_VERSION = "transit.privatelink.io/v1alpha1"


class OperatedSandbox:
    """`documents` applied to a sandbox whose VMSS instances are `executor`'s, and the operator running.

    Timing as `transit-operator sandbox` has it (requeues capped at 1 s), plus drift checks every
    `drift_seconds` instead of the CRD's minimum of 30 s, so that an out-of-band change in the cloud (an
    endpoint's new IP) is seen within about a second. Close it (or use it as a context manager)."""

    def __init__(self, documents: list[dict[str, Any]], executor: Any, *, drift_seconds: float = 1.0) -> None:
        self.cloud = SandboxCloud(executor=executor)
        self.kube = KubeEmulator()
        self.cluster: Any = None
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        try:
            self.cloud.start()
            self.kube.start()
            self.cluster = self.kube.client()
            self.cluster.install_crds(list(yaml.safe_load_all(render_crds_yaml())))
            self.documents = prepare_customer_side(self.cloud, self.cluster, documents)
            for doc in self.documents:
                self.cluster.apply(doc)
            self._start_operator(drift_seconds)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> OperatedSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start_operator(self, drift_seconds: float) -> None:
        context = CloudContext.for_sandbox(self.cloud.arm_url, self.cloud.ca_bundle, self.cloud.token,
                                           self.cloud.databricks_url or None)  # fmt: skip
        kubeconfig = str(self.kube.kubeconfig)
        context.read_secret = kubernetes_secret_reader(kubeconfig)
        runtime = Runtime(context, Reconcilers.load(), tick_seconds=0.5, max_requeue_seconds=1.0,
                          drift_seconds=drift_seconds)  # fmt: skip
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._task = self._loop.create_task(operate(runtime, build_settings(standalone=True), kubeconfig=kubeconfig))
            ready.set()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                self._loop.run_until_complete(self._task)

        self._thread = threading.Thread(target=run, name="operator", daemon=True)
        self._thread.start()
        ready.wait(10)

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        obj: dict[str, Any] | None = self.cluster.get(API_VERSION, kind, name, namespace)
        return obj

    def patch_spec(self, kind: str, name: str, namespace: str, spec: dict[str, Any]) -> None:
        """A merge patch of the object's spec, as `kubectl patch --type=merge` sends it."""
        self.cluster.patch(API_VERSION, kind, name, namespace, {"spec": spec})

    def objects(self) -> list[dict[str, Any]]:
        """Every CR applied, as it is now."""
        found = []
        for doc in self.documents:
            if doc["kind"] in ("ConfluentPrivateLink", "ServerlessTransit"):
                obj = self.get(doc["kind"], doc["metadata"]["name"], doc["metadata"].get("namespace") or "default")
                if obj is not None:
                    found.append(obj)
        return found

    def wait(self, probe: Callable[[], T | None], timeout: float, what: str) -> T:
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise SystemExit(f"{what}: not reached within {timeout:g} s")
            time.sleep(0.1)

    def all_ready(self) -> bool:
        objects = self.objects()
        return bool(objects) and all(ready(obj) for obj in objects)

    def close(self) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        if self._thread is not None:
            self._thread.join(30)
        if self.cluster is not None:
            self.cluster.close()
        self.kube.stop()
        self.cloud.stop()


def ready(obj: dict[str, Any]) -> bool:
    """Ready=True for the object's current generation."""
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == "Ready":
            return item.get("status") == "True" and item.get("observedGeneration") == obj["metadata"].get("generation")
    return False
