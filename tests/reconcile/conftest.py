"""Fixtures for reconciler tests: one sandbox cloud per session, a CloudContext pointed at it, a VNet per
test (its own resource group), and helpers to build ConfluentPrivateLink bodies and run passes.

(Kept beside the tests rather than shared through tests/conftest.py: the ARM emulator's own fixtures
live in tests/sandbox/conftest.py.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from transit_operator.api.status import dump_status
from transit_operator.cloud.context import CloudContext
from transit_operator.reconcile import confluent
from transit_operator.reconcile.outcome import Outcome
from transit_sandbox import conformance
from transit_sandbox.server import SandboxCloud

LOCATION = "westeurope"
DOMAIN = "n-abc123.westeurope.azure.confluent.cloud"
ALIASES = {
    zone: f"s-abc12-privatelink-{i}.0f6a1c5e-1a2b-4c3d-8e9f-00112233445{i}.westeurope.azure.privatelinkservice"
    for i, zone in enumerate(("az1", "az2", "az3"), start=1)
}


@pytest.fixture(scope="session")
def cloud_session() -> Iterator[SandboxCloud]:
    with SandboxCloud(check_conformance=True) as cloud:
        yield cloud
        violations = cloud.admin.take_violations()  # every ARM exchange, judged against the specs
        assert violations == [], conformance.report(violations)


@pytest.fixture
def cloud(cloud_session: SandboxCloud) -> Iterator[SandboxCloud]:
    cloud_session.admin.clear_requests()
    yield cloud_session
    cloud_session.admin.reset()


@pytest.fixture
def ctx(cloud: SandboxCloud) -> CloudContext:
    return CloudContext.for_sandbox(cloud.arm_url, cloud.ca_bundle, cloud.token, polling_interval=0.05)


@pytest.fixture
def rg(request: pytest.FixtureRequest) -> str:
    return f"rg-{request.node.name}"[:90].replace("[", "-").replace("]", "")


class Env:
    """The test's resource group with a VNet (`pe` subnet) and builders for CR bodies."""

    def __init__(self, cloud: SandboxCloud, ctx: CloudContext, rg: str) -> None:
        self.cloud, self.ctx, self.rg = cloud, ctx, rg
        self.sub = cloud.subscription_id
        self.vnet_id = f"/subscriptions/{self.sub}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/vnet"
        ctx.network(self.sub).virtual_networks.begin_create_or_update(
            rg,
            "vnet",
            {
                "location": LOCATION,
                "properties": {
                    "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                    "subnets": [{"name": "pe", "properties": {"addressPrefix": "10.0.1.0/24"}}],
                },
            },
        ).result()

    def body(self, zones: int = 3, name: str = "confluent", **spec_overrides: Any) -> dict[str, Any]:
        names = ["az1", "az2", "az3"][:zones]
        spec: dict[str, Any] = {
            "azure": {"subscriptionId": self.sub, "resourceGroup": self.rg, "location": LOCATION},
            "confluent": {
                "networkId": "n-abc123",
                "dnsDomain": DOMAIN,
                "bootstrapServer": f"lkc-abc12.{DOMAIN}:9092",
                "zones": [{"name": z, "privateLinkServiceAlias": ALIASES[z]} for z in names],
            },
            "privateEndpoints": {"subnetId": f"{self.vnet_id}/subnets/pe"},
            "dns": {"virtualNetworkIds": [self.vnet_id]},
        }
        spec.update(spec_overrides)
        return {
            "apiVersion": "transit.privatelink.io/v1alpha1",
            "kind": "ConfluentPrivateLink",
            "metadata": {"name": name, "namespace": "team-a", "uid": f"uid-{self.rg}-{name}", "generation": 1},
            "spec": spec,
        }

    def resource(self, resource_id: str) -> dict[str, Any] | None:
        return self.cloud.admin.resource(resource_id)

    def writes(self) -> list[Any]:
        return [r for r in self.cloud.admin.writes() if f"/resourcegroups/{self.rg.lower()}/" in r.path.lower()]

    def requests(self) -> list[Any]:
        return [r for r in self.cloud.admin.requests() if f"/resourcegroups/{self.rg.lower()}/" in r.path.lower()]


@pytest.fixture
def env(cloud: SandboxCloud, ctx: CloudContext, rg: str) -> Env:
    made = Env(cloud, ctx, rg)
    cloud.admin.clear_requests()
    return made


def run_pass(body: dict[str, Any], ctx: CloudContext) -> Outcome:
    """One reconcile pass; the status is written back into `body` as the runtime would."""
    outcome = confluent.reconcile(body, ctx)
    body["status"] = dump_status(outcome.status)
    return outcome


def converge(body: dict[str, Any], ctx: CloudContext, *, until: str = "settled", passes: int = 60) -> list[Outcome]:
    """Run passes until the outcome asks for no requeue (or `until="ready"`: Ready=True). Sleeps briefly
    instead of `requeue_after` (the sandbox's operations take milliseconds)."""
    outcomes: list[Outcome] = []
    for _ in range(passes):
        outcome = run_pass(body, ctx)
        outcomes.append(outcome)
        ready = condition(body, "Ready")["status"] == "True"
        if (until == "ready" and ready) or (until == "settled" and outcome.requeue_after is None):
            return outcomes
        time.sleep(0.05)
    raise AssertionError(f"did not converge in {passes} passes: {body['status']['conditions']}")


def finalize_until_done(body: dict[str, Any], ctx: CloudContext, passes: int = 60) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for _ in range(passes):
        outcome = confluent.finalize(body, ctx)
        body["status"] = dump_status(outcome.status)
        outcomes.append(outcome)
        if outcome.done:
            return outcomes
        time.sleep(0.05)
    raise AssertionError(f"finalize not done in {passes} passes: {body['status'].get('conditions')}")


def condition(body: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in body["status"]["conditions"] if c["type"] == type_)
