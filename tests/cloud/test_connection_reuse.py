"""The management clients keep their connections to ARM when many threads call at once (kopf's workers, the
timer's threads and run-command fan-out all share one CloudContext): a connection is never discarded
because the pool is full, so no call pays a new TLS handshake once every caller has one."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from transit_operator.cloud.context import ARM_CONNECTIONS, CloudContext
from transit_sandbox.server import SandboxCloud

pytestmark = pytest.mark.slow
THREADS, CALLS = 16, 15


@pytest.fixture(scope="module")
def cloud() -> Iterator[SandboxCloud]:
    with SandboxCloud() as sandbox:
        sandbox.admin.set_lro_seconds(None, 0.01)
        yield sandbox


def test_many_threads_reuse_their_connections(cloud: SandboxCloud, caplog: pytest.LogCaptureFixture) -> None:
    assert THREADS < ARM_CONNECTIONS
    ctx = CloudContext.for_sandbox(cloud.arm_url, cloud.ca_bundle, cloud.token)
    sub = cloud.subscription_id
    network = ctx.network(sub)
    network.virtual_networks.begin_create_or_update("rg-pool", "vnet", {
        "location": "westeurope", "properties": {"addressSpace": {"addressPrefixes": ["10.9.0.0/16"]}},
    }).result()
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def calls() -> None:
        start.wait(10)
        try:
            for _ in range(CALLS):
                network.virtual_networks.get("rg-pool", "vnet")
        except BaseException as exc:  # reported below
            errors.append(exc)

    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    cloud.admin.clear_requests()
    threads = [threading.Thread(target=calls) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(cloud.admin.requests()) == THREADS * CALLS
    discarded = [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()]
    opened = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Starting new HTTPS connection")]
    assert not discarded, discarded[:3]
    # at most one connection per thread that ever called at once (the pool keeps every one of them)
    assert len(opened) <= THREADS, f"{len(opened)} connections opened for {THREADS} threads"
