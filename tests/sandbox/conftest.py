"""Fixtures: a started SandboxCloud and the real Azure SDK clients pointed at it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from azure.core.credentials import AccessToken
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.privatedns import PrivateDnsManagementClient

from transit_sandbox.executor import RecordingExecutor
from transit_sandbox.server import SandboxCloud


class StaticTokenCredential:
    """A TokenCredential that always returns the sandbox's bearer token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture(scope="session")
def sandbox_cloud_session() -> Iterator[SandboxCloud]:
    with SandboxCloud(executor=RecordingExecutor()) as cloud:
        yield cloud


@pytest.fixture
def sandbox_cloud(sandbox_cloud_session: SandboxCloud) -> Iterator[SandboxCloud]:
    """The shared cloud with faults, timings and the request log reset; resources persist across tests
    (every test uses its own resource group)."""
    cloud = sandbox_cloud_session
    yield cloud
    cloud.admin.clear_faults()
    cloud.admin.clear_requests()
    with cloud.arm.lock:
        cloud.arm.lro_seconds.clear()
        cloud.arm.default_lro_seconds = 0.05
        cloud.arm.lro_failures.clear()
        cloud.arm.confluent_approval_seconds = 0.2
        cloud.arm.alias_behaviour.clear()


def _kwargs(cloud: SandboxCloud) -> dict[str, object]:
    return {"base_url": cloud.arm_url, "connection_verify": cloud.ca_bundle, "polling_interval": 0.05,
            "retry_backoff_factor": 0.01}


@pytest.fixture
def network_client(sandbox_cloud: SandboxCloud) -> NetworkManagementClient:
    return NetworkManagementClient(StaticTokenCredential(sandbox_cloud.token), sandbox_cloud.subscription_id,
                                   **_kwargs(sandbox_cloud))


@pytest.fixture
def compute_client(sandbox_cloud: SandboxCloud) -> ComputeManagementClient:
    return ComputeManagementClient(StaticTokenCredential(sandbox_cloud.token), sandbox_cloud.subscription_id,
                                   **_kwargs(sandbox_cloud))


@pytest.fixture
def dns_client(sandbox_cloud: SandboxCloud) -> PrivateDnsManagementClient:
    return PrivateDnsManagementClient(StaticTokenCredential(sandbox_cloud.token), sandbox_cloud.subscription_id,
                                      **_kwargs(sandbox_cloud))


@pytest.fixture
def rg(request: pytest.FixtureRequest) -> str:
    """A resource group name unique to the test (resource groups are implicit in the emulator)."""
    return f"rg-{request.node.name}"[:90].replace("[", "-").replace("]", "")
