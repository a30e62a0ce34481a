"""`transit-operator run`'s process-level behaviour: peering settings, the health and metrics endpoints
over HTTP, flags."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import time
import urllib.request
from typing import Any

import pytest

from transit_operator.runtime.driver import Runtime
from transit_operator.runtime.main import build_settings, configure_logging, operate
from transit_operator.runtime.metrics import Metrics
from transit_operator.runtime.options import add_run_arguments
from transit_sandbox.kube import KubeEmulator

from .doubles import StatusFromSpecDouble


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return parser.parse_args(list(argv))


def test_named_peering_is_mandatory_and_each_replica_draws_its_own_priority() -> None:
    first, second = build_settings(peering="p"), build_settings(peering="p")
    assert (first.peering.name, first.peering.mandatory, first.peering.standalone) == ("p", True, False)
    assert first.peering.priority != second.peering.priority
    assert build_settings(peering="p", priority=7).peering.priority == 7
    assert parse("--peering-priority", "42").peering_priority == 42


def test_no_peering_is_standalone_and_not_mandatory() -> None:
    settings = build_settings(standalone=True)
    assert (settings.peering.standalone, settings.peering.mandatory) == (True, False)


def test_metrics_are_served_over_http_in_prometheus_text_format() -> None:
    metrics = Metrics()
    metrics.observe("ServerlessTransit", "reconcile", "synced", 0.2)
    port = free_port()
    metrics.serve(port, addr="127.0.0.1")
    status, text = http_get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert ('transit_operator_reconcile_total{kind="ServerlessTransit",operation="reconcile",result="synced"} 1.0'
            in text)
    assert "transit_operator_reconcile_duration_seconds_bucket" in text


async def run_operator(kube_server: KubeEmulator, runtime: Runtime, settings: Any,
                       **kwargs: Any) -> asyncio.Task[None]:
    ready_flag = asyncio.Event()
    task = asyncio.create_task(operate(runtime, settings, kubeconfig=str(kube_server.kubeconfig), ready_flag=ready_flag,
                                       **kwargs))
    await asyncio.wait_for(ready_flag.wait(), 10)
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 15)


async def test_health_endpoint_answers_on_every_interface(kube_server: KubeEmulator) -> None:
    port = free_port()
    runtime = Runtime(None, StatusFromSpecDouble().reconcilers(), tick_seconds=0.3)
    task = await run_operator(kube_server, runtime, build_settings(standalone=True), health_port=port)
    try:
        addresses = {"127.0.0.1"}
        with contextlib.suppress(OSError):
            addresses.add(socket.gethostbyname(socket.gethostname()))  # a non-loopback one, when there is one
        for address in addresses:  # from a thread: the endpoint is served by this event loop
            assert await asyncio.to_thread(_health, address, port) == 200, address
    finally:
        await stop(task)


def _health(address: str, port: int) -> int | None:
    for _ in range(50):
        try:
            return http_get(f"http://{address}:{port}/healthz")[0]
        except OSError:
            time.sleep(0.1)
    return None


def test_emulated_cloud_timing_caps_requeues_and_replaces_drift_intervals() -> None:
    real = Runtime(None, StatusFromSpecDouble().reconcilers())
    fast = Runtime(None, StatusFromSpecDouble().reconcilers(), max_requeue_seconds=1.0, drift_seconds=2.0)
    body = {"spec": {"driftCheckIntervalSeconds": 60}}
    assert (real.requeue_delay(10.0), real.drift_delay(body), real.drift_delay({})) == (10.0, 60.0, 300.0)
    assert (fast.requeue_delay(10.0), fast.requeue_delay(0.2), fast.drift_delay(body)) == (1.0, 0.2, 2.0)


def test_requeues_are_logged_at_debug_and_reconciler_errors_stay_errors(caplog: pytest.LogCaptureFixture) -> None:
    configure_logging("text", "info")
    logger = logging.getLogger("kopf.objects")
    with caplog.at_level(logging.INFO):
        logger.error("Handler 'reconcile' failed temporarily: requeue in 1s")
        logger.error("Handler 'reconcile' failed temporarily: reconcile failed: boom")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "Handler 'reconcile' failed temporarily: reconcile failed: boom")]

