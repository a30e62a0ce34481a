"""What the operator logs while it works normally: a finalizer waiting for cloud deletes is progress (INFO,
not kopf's ERROR), and stopping the operator while a drift pass runs leaves no "did not exit in time"
warning (the pass finishes, then the timer exits)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from transit_operator.api.v1alpha1 import Condition, ConfluentPrivateLinkStatus
from transit_operator.reconcile.outcome import Outcome
from transit_operator.runtime.driver import Reconcilers, Runtime
from transit_operator.runtime.main import build_settings, configure_logging, operate
from transit_sandbox.kube import KubeClient, KubeEmulator

from .conftest import GROUP, VERSION, eventually

READY = ConfluentPrivateLinkStatus(conditions=[Condition(type="Ready", status="True", reason="Reconciled", message="ok")])


class SlowDriftDouble:
    """Reconciles at once when kopf calls; a timer-driven (drift) pass takes `pass_seconds`. Finalize
    reports "not done" `pending_finalizes` times (cloud deletes in flight), then done."""

    def __init__(self, pass_seconds: float = 0.0, pending_finalizes: int = 0) -> None:
        self.pass_seconds = pass_seconds
        self.pending_finalizes = pending_finalizes
        self.reconciles = 0
        self.finalizes = 0
        self.drift_pass_started = threading.Event()
        self.drift_pass_finished = threading.Event()

    def reconcile(self, body: dict[str, Any], *args: Any) -> Outcome:
        self.reconciles += 1
        if self.reconciles > 1:  # the first pass is kopf's create; later ones come from the drift timer
            self.drift_pass_started.set()
            time.sleep(self.pass_seconds)
            self.drift_pass_finished.set()
        return Outcome(status=READY)

    def finalize(self, body: dict[str, Any], ctx: Any) -> Outcome:
        self.finalizes += 1
        if self.finalizes <= self.pending_finalizes:
            return Outcome(status=READY, requeue_after=0.1)
        return Outcome(status=READY, done=True)

    def reconcilers(self) -> Reconcilers:
        return Reconcilers(self.reconcile, self.finalize, self.reconcile, self.finalize)


def cpl(name: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ConfluentPrivateLink",
            "metadata": {"name": name, "namespace": "default"}, "spec": {"zones": ["1"]}}


async def start(kube: KubeEmulator, double: SlowDriftDouble, **timing: float) -> asyncio.Task[None]:
    """The operator over `double`, logging as `run --log-format text` does, in this test's event loop."""
    configure_logging("text", "info")
    runtime = Runtime(None, double.reconcilers(), tick_seconds=0.2, **timing)
    ready = asyncio.Event()
    task = asyncio.create_task(operate(runtime, build_settings(standalone=True), kubeconfig=str(kube.kubeconfig),
                                       ready_flag=ready))
    await asyncio.wait_for(ready.wait(), 10)
    return task


async def stop(task: asyncio.Task[None]) -> None:
    """As `transit-operator sandbox` stops its operator: cancel the task."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 15)


async def test_stopping_during_a_drift_pass_lets_the_pass_finish_without_a_warning(
    kube_server: KubeEmulator, cluster: KubeClient, caplog: pytest.LogCaptureFixture
) -> None:
    double = SlowDriftDouble(pass_seconds=1.0)
    task = await start(kube_server, double, drift_seconds=0.1)
    cluster.create(cpl("drifting"))
    await eventually(double.drift_pass_started.is_set)
    with caplog.at_level(logging.DEBUG):
        await stop(task)
    assert double.drift_pass_finished.is_set(), "the operator stopped before the running pass ended"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [m for m in warnings if "did not exit in time" in m], warnings


async def test_finalizer_waiting_for_cloud_deletes_logs_progress_not_errors(
    kube_server: KubeEmulator, cluster: KubeClient, caplog: pytest.LogCaptureFixture
) -> None:
    double = SlowDriftDouble(pending_finalizes=3)
    task = await start(kube_server, double, max_requeue_seconds=0.1)
    try:
        cluster.create(cpl("leaving"))
        await eventually(lambda: double.reconciles >= 1)
        with caplog.at_level(logging.DEBUG):
            cluster.delete(f"{GROUP}/{VERSION}", "ConfluentPrivateLink", "leaving", "default")
            await eventually(lambda: cluster.get(f"{GROUP}/{VERSION}", "ConfluentPrivateLink", "leaving", "default")
                             is None)
    finally:
        await stop(task)
    assert double.finalizes == 4
    shown = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert not [line for line in shown if line[0] in ("WARNING", "ERROR", "CRITICAL")], shown
    assert [line for line in shown if "finalize" in line[1]] == [
        ("INFO", "Handler 'finalize' is waiting: cloud resources are still being removed; again in 0.1s")] * 3 + [
        ("INFO", "Handler 'finalize' succeeded.")]


@pytest.mark.slow
def test_sandbox_demo_reaches_ready_and_exits_with_a_quiet_log() -> None:
    """`transit-operator sandbox --until-ready` (the README's demo, real reconcilers) prints no kopf
    warning or error on its way to Ready and out."""
    result = subprocess.run([sys.executable, "-m", "transit_operator.cli", "sandbox", "--until-ready", "--timeout", "120"],
                            capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "all objects are Ready" in result.stdout
    noisy = [line for line in result.stderr.splitlines()
             if re.search(r"WARNING|ERROR|CRITICAL|Traceback|did not exit in time|failed temporarily", line)]
    assert noisy == [], "\n".join(noisy[:20])
