"""Whole-operator tests: kopf runs in the test's event loop against the emulated Kubernetes API, which
serves from its own thread (so stopping kopf does not wait on the emulator's loop). The wiring CRDs have
a permissive schema (these tests are about kopf's wiring), so they stay on the emulator; the tests reach
it only over HTTP (`KubeClient`), and the operator logs in with its kubeconfig as `run --kubeconfig` does."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import pytest

from transit_operator.runtime.driver import Runtime
from transit_operator.runtime.main import build_settings, operate
from transit_sandbox.kube import KubeEmulator

from .doubles import StatusFromSpecDouble

GROUP, VERSION = "transit.privatelink.io", "v1alpha1"
T = TypeVar("T")


def wiring_crd(plural: str, kind: str, short: str) -> dict[str, Any]:
    """The project's group, kinds and plurals with a permissive schema: these tests are about the wiring."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {"group": GROUP, "scope": "Namespaced",
                 "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "shortNames": [short]},
                 "versions": [{"name": VERSION, "served": True, "storage": True, "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                   "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]},
    }


@pytest.fixture
def kube_server() -> Iterator[KubeEmulator]:
    """tests/conftest.py's `kube_server`, overridden here: the emulator only, with the wiring CRDs (the
    root `cluster` fixture is this server's client)."""
    with KubeEmulator() as emulator:
        emulator.client().install_crds([wiring_crd("confluentprivatelinks", "ConfluentPrivateLink", "cpl"),
                                        wiring_crd("serverlesstransits", "ServerlessTransit", "st")])
        yield emulator


@pytest.fixture
def double() -> StatusFromSpecDouble:
    return StatusFromSpecDouble(fail_once=("flaky",), always_failing=("doomed",))


@pytest.fixture
async def runtime(kube_server: KubeEmulator, double: StatusFromSpecDouble) -> AsyncIterator[Runtime]:
    runtime = Runtime(None, double.reconcilers(), tick_seconds=0.3, backoff_seconds=0.2)
    settings = build_settings(standalone=True)
    settings.scanning.disabled = True
    settings.posting.level = 100  # only our explicit kopf.event() calls post Events
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(operate(runtime, settings, kubeconfig=str(kube_server.kubeconfig), stop_flag=stop,
                                       ready_flag=ready))
    await asyncio.wait_for(ready.wait(), 10)
    yield runtime
    # Cancel rather than set the stop flag: on a stop flag, kopf treats tasks started after it (like
    # this fixture's teardown) as hung and cancels them after a fixed 5 s.
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 15)


async def eventually(probe: Callable[[], T | None], timeout: float = 10.0) -> T:
    """Poll `probe` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.05)
