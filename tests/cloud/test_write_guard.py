"""The operator never writes to a resource other than the one it means, through the real SDK clients against
the sandbox: an id that walks out of its resource (`/subnets/..` is the VNet's URL once the HTTP stack
normalises it) is refused before anything is sent, a write to another path than the declared one is refused,
and a body read for one id that is another resource's is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from transit_operator.cloud.arm import Arm
from transit_operator.cloud.context import CloudContext, writing_to
from transit_operator.cloud.errors import RefusedWrite
from transit_operator.plan.model import AzureResource
from transit_operator.plan.ownership import Owner
from transit_operator.reconcile.ownership import OwnedBy
from transit_sandbox.server import SandboxCloud

pytestmark = pytest.mark.slow
RULE = OwnedBy(Owner("ServerlessTransit", "ns", "t", "uid-1"))


@pytest.fixture(scope="module")
def cloud() -> Iterator[SandboxCloud]:
    with SandboxCloud() as sandbox:
        sandbox.admin.set_lro_seconds(None, 0.01)
        yield sandbox


@pytest.fixture
def ctx(cloud: SandboxCloud) -> CloudContext:
    return CloudContext.for_sandbox(cloud.arm_url, cloud.ca_bundle, cloud.token)


@pytest.fixture
def vnet_id(cloud: SandboxCloud, ctx: CloudContext) -> str:
    rg = "rg-guard"
    ctx.network(cloud.subscription_id).virtual_networks.begin_create_or_update(rg, "vnet", {
        "location": "westeurope",
        "properties": {"addressSpace": {"addressPrefixes": ["10.9.0.0/16"]},
                       "subnets": [{"name": "snet", "properties": {"addressPrefix": "10.9.1.0/24"}}]},
    }).result()
    cloud.admin.clear_requests()
    return f"/subscriptions/{cloud.subscription_id}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/vnet"


def writes(cloud: SandboxCloud) -> list[str]:
    return [f"{r.method} {r.path}" for r in cloud.admin.writes()]


@pytest.mark.parametrize("name", ["..", ".", "snet.", "%2e%2e", "a b", "x?y", "x#y"])
def test_an_id_that_walks_out_of_its_resource_is_refused_before_any_request(
        cloud: SandboxCloud, ctx: CloudContext, vnet_id: str, name: str) -> None:
    arm = Arm(ctx)
    subnet_id = f"{vnet_id}/subnets/{name}"
    with pytest.raises(RefusedWrite):
        arm.observe(subnet_id)
    with pytest.raises(RefusedWrite):
        arm.put(subnet_id, {"properties": {"addressPrefix": "10.9.2.0/24"}})
    with pytest.raises(RefusedWrite):
        arm.delete(subnet_id)
    assert cloud.admin.requests() == []


def test_the_sdk_normalising_a_path_away_is_refused_at_the_http_layer(
        cloud: SandboxCloud, ctx: CloudContext, vnet_id: str) -> None:
    # Straight through the SDK, below cloud.arm's id check: requests would send this PUT to the VNet's URL.
    network = ctx.network(cloud.subscription_id)
    with pytest.raises(RefusedWrite, match="would send it to"):
        network.subnets.begin_create_or_update("rg-guard", "vnet", "..", {"properties": {}}, polling=False)
    assert writes(cloud) == []


def test_a_write_to_another_resource_than_the_declared_one_is_refused(
        cloud: SandboxCloud, ctx: CloudContext, vnet_id: str) -> None:
    network = ctx.network(cloud.subscription_id)
    with writing_to(f"{vnet_id}/subnets/snet"), pytest.raises(RefusedWrite, match="is not a write to"):
        network.virtual_networks.begin_create_or_update("rg-guard", "vnet", {"location": "westeurope"},
                                                        polling=False)
    assert writes(cloud) == []
    with writing_to(f"{vnet_id}/subnets/snet"):  # the declared one goes through
        network.subnets.begin_create_or_update(
            "rg-guard", "vnet", "snet", {"properties": {"addressPrefix": "10.9.1.0/24"}}, polling=False)
    assert [w.split(" ")[0] for w in writes(cloud)] == ["PUT"]


def test_a_body_read_for_one_id_that_is_another_resources_is_refused(
        cloud: SandboxCloud, ctx: CloudContext, vnet_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    arm = Arm(ctx)
    vnet = arm.observe(vnet_id)
    assert vnet is not None
    # What a normalising proxy or a confused server would answer for the subnet: the VNet's body.
    _, ops, _ = arm._operations(f"{vnet_id}/subnets/snet")
    monkeypatch.setattr(type(ops), "get", lambda self, *a, **k: ctx.network(cloud.subscription_id)
                        .virtual_networks.get("rg-guard", "vnet"))
    with pytest.raises(RefusedWrite, match="returned the body of"):
        arm.observe(f"{vnet_id}/subnets/snet")
    desired = AzureResource(type="Microsoft.Network/virtualNetworks/subnets", id=f"{vnet_id}/subnets/snet",
                            apiVersion="2026-03-01", body={"properties": {"addressPrefix": "10.9.1.0/24"}},
                            dependsOn=[])
    with pytest.raises(RefusedWrite):
        arm.ensure(desired, RULE)
    assert writes(cloud) == []
