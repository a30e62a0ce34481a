"""cloud.arm's client contract against the sandbox, through the real SDK clients: at most one write per
ensure, none when in sync, never on someone else's resource; delete and release idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from transit_operator.cloud.arm import Arm
from transit_operator.cloud.context import CloudContext
from transit_operator.cloud.errors import OwnershipConflict, RetryableError
from transit_operator.plan.model import AzureResource
from transit_operator.plan.ownership import Owner, build_ownership_tags
from transit_operator.reconcile.ownership import OwnedBy
from transit_sandbox import conformance
from transit_sandbox.server import SandboxCloud

pytestmark = pytest.mark.slow

OWNER = Owner("ConfluentPrivateLink", "ns", "cpl", "uid-1")
RULE = OwnedBy(OWNER)
TAGS = build_ownership_tags("ConfluentPrivateLink", "ns", "cpl", "uid-1")
ALIAS = "s-abc12-privatelink-1.0f6a1c5e-1a2b-4c3d-8e9f-001122334455.westeurope.azure.privatelinkservice"


@pytest.fixture(scope="module")
def cloud() -> Iterator[SandboxCloud]:
    with SandboxCloud(check_conformance=True) as sandbox:
        yield sandbox
        violations = sandbox.admin.take_violations()  # every ARM exchange, judged against the specs
        assert violations == [], conformance.report(violations)


@pytest.fixture
def ctx(cloud: SandboxCloud) -> Iterator[CloudContext]:
    cloud.admin.clear_requests()
    yield CloudContext.for_sandbox(cloud.arm_url, cloud.ca_bundle, cloud.token)
    cloud.admin.clear_faults()
    cloud.admin.set_lro_seconds(None, 0.05)


@pytest.fixture
def rg(request: pytest.FixtureRequest) -> str:
    return f"rg-{request.node.name}"[:90].replace("[", "-").replace("]", "")


@pytest.fixture
def arm(ctx: CloudContext) -> Arm:
    return Arm(ctx)


def base(cloud: SandboxCloud, rg: str) -> str:
    return f"/subscriptions/{cloud.subscription_id}/resourceGroups/{rg}/providers/Microsoft.Network"


def vnet(cloud: SandboxCloud, rg: str, tags: dict[str, str] | None = None) -> AzureResource:
    return AzureResource(
        type="Microsoft.Network/virtualNetworks",
        id=f"{base(cloud, rg)}/virtualNetworks/vnet",
        apiVersion="2026-03-01",
        body={
            "location": "westeurope",
            "tags": dict(TAGS if tags is None else tags),
            "properties": {
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [{"name": "pe", "properties": {"addressPrefix": "10.0.1.0/24"}}],
            },
        },
    )


def zone_record(cloud: SandboxCloud, rg: str, ip: str) -> list[AzureResource]:
    zone_id = f"{base(cloud, rg)}/privateDnsZones/example.confluent.cloud"
    return [
        AzureResource(type="Microsoft.Network/privateDnsZones", id=zone_id, apiVersion="2024-06-01",
                      body={"location": "global", "tags": dict(TAGS)}),
        AzureResource(type="Microsoft.Network/privateDnsZones/A", id=f"{zone_id}/A/*", apiVersion="2024-06-01",
                      body={"properties": {"metadata": dict(TAGS), "ttl": 60, "aRecords": [{"ipv4Address": ip}]}}),
    ]


def writes(cloud: SandboxCloud, rg: str) -> list[tuple[str, str]]:
    return [(r.method, r.path.rsplit("/", 1)[-1]) for r in cloud.admin.writes()
            if f"/resourcegroups/{rg.lower()}/" in r.path.lower()]


def settle(arm: Arm, resource_id: str) -> dict[str, Any]:
    for _ in range(200):
        body = arm.observe(resource_id)
        if body and (body.get("properties") or {}).get("provisioningState") in ("Succeeded", "Failed"):
            return body
    raise AssertionError(f"{resource_id} never settled")


def test_observe_of_a_missing_resource_is_none_and_writes_nothing(arm: Arm, cloud: SandboxCloud, rg: str) -> None:
    assert arm.observe(vnet(cloud, rg).id) is None
    assert writes(cloud, rg) == []


def test_create_then_in_sync_makes_exactly_one_write(arm: Arm, cloud: SandboxCloud, rg: str) -> None:
    desired = vnet(cloud, rg)
    first = arm.ensure(desired, RULE)
    assert first.action == "Started" and first.in_flight
    settle(arm, desired.id)
    second = arm.ensure(desired, RULE)
    assert second.action == "InSync" and not second.in_flight
    assert writes(cloud, rg) == [("PUT", "vnet")]


def test_in_progress_resource_is_not_written(arm: Arm, cloud: SandboxCloud, rg: str) -> None:
    cloud.admin.set_lro_seconds(None, 30)
    desired = vnet(cloud, rg)
    arm.ensure(desired, RULE)
    again = arm.ensure(desired, RULE)
    assert again.action == "InProgress" and again.in_flight
    assert writes(cloud, rg) == [("PUT", "vnet")]


def test_drift_is_written_back_with_other_tags_kept(arm: Arm, ctx: CloudContext, cloud: SandboxCloud, rg: str) -> None:
    desired = vnet(cloud, rg)
    arm.ensure(desired, RULE)
    drifted = arm.writable(desired.id, settle(arm, desired.id))  # someone's GET-modify-PUT
    drifted["tags"]["cost-center"] = "42"
    drifted["properties"]["addressSpace"]["addressPrefixes"] = ["10.0.0.0/16", "10.1.0.0/16"]
    ctx.network(cloud.subscription_id).virtual_networks.begin_create_or_update(rg, "vnet", drifted).result()
    result = arm.ensure(desired, RULE)
    assert result.action == "Updated"
    now = settle(arm, desired.id)
    assert now["properties"]["addressSpace"]["addressPrefixes"] == ["10.0.0.0/16"]
    assert now["tags"]["cost-center"] == "42"


def test_untagged_resource_is_adopted(arm: Arm, cloud: SandboxCloud, rg: str) -> None:
    untagged = vnet(cloud, rg, tags={"team": "net"})
    arm._put(untagged.id, untagged.body)
    settle(arm, untagged.id)
    result = arm.ensure(vnet(cloud, rg), RULE)
    assert result.action == "Adopted"
    tags = settle(arm, untagged.id)["tags"]
    assert tags["team"] == "net" and RULE.is_ours(tags)


def test_resource_of_another_owner_raises_and_is_not_written(arm: Arm, cloud: SandboxCloud, rg: str) -> None:
    other = vnet(cloud, rg, tags=build_ownership_tags("ConfluentPrivateLink", "ns", "other", "uid-2"))
    arm._put(other.id, other.body)
    settle(arm, other.id)
    before = writes(cloud, rg)
    with pytest.raises(OwnershipConflict, match="ConfluentPrivateLink/ns/other"):
        arm.ensure(vnet(cloud, rg), RULE)
    assert arm.delete(other.id, RULE).action == "NotOwned"
    assert arm.release(other.id, RULE) == "NotOwned"
    assert writes(cloud, rg) == before


def test_same_name_recreated_object_with_new_uid_is_another_owner(arm: Arm, cloud: SandboxCloud, rg: str) -> None:
    arm.ensure(vnet(cloud, rg), RULE)
    settle(arm, vnet(cloud, rg).id)
    successor = OwnedBy(Owner("ConfluentPrivateLink", "ns", "cpl", "uid-9"))
    with pytest.raises(OwnershipConflict):
        arm.ensure(vnet(cloud, rg), successor)


def test_failed_provisioning_is_put_again(arm: Arm, cloud: SandboxCloud, rg: str) -> None:
    cloud.admin.fail_lro("virtualNetworks/vnet", code="InternalServerError")
    desired = vnet(cloud, rg)
    arm.ensure(desired, RULE)
    assert settle(arm, desired.id)["properties"]["provisioningState"] == "Failed"
    assert arm.ensure(desired, RULE).action == "Updated"
    assert settle(arm, desired.id)["properties"]["provisioningState"] == "Succeeded"


def test_record_sets_are_synchronous(arm: Arm, cloud: SandboxCloud, rg: str) -> None:
    zone, record = zone_record(cloud, rg, "10.0.1.4")
    arm.ensure(zone, RULE)
    settle(arm, zone.id)
    created = arm.ensure(record, RULE)
    assert created.action == "Started" and not created.in_flight
    assert arm.ensure(record, RULE).action == "InSync"
    changed = arm.ensure(zone_record(cloud, rg, "10.0.1.5")[1], RULE)
    assert changed.action == "Updated"
    assert arm.observe(record.id)["properties"]["aRecords"] == [{"ipv4Address": "10.0.1.5"}]


def test_delete_is_idempotent(arm: Arm, cloud: SandboxCloud, rg: str) -> None:
    desired = vnet(cloud, rg)
    arm.ensure(desired, RULE)
    settle(arm, desired.id)
    cloud.admin.set_lro_seconds(None, 0.3)
    assert arm.delete(desired.id, RULE).action == "Deleting"
    assert arm.delete(desired.id, RULE).action == "Deleting"  # no second DELETE while one runs
    for _ in range(200):
        if arm.delete(desired.id, RULE).gone:
            break
    assert arm.delete(desired.id, RULE).action == "Gone"
    assert [w for w in writes(cloud, rg) if w[0] == "DELETE"] == [("DELETE", "vnet")]


def test_release_removes_only_our_tags(arm: Arm, cloud: SandboxCloud, rg: str) -> None:
    desired = vnet(cloud, rg, tags={**TAGS, "team": "net"})
    arm.ensure(desired, RULE)
    before = settle(arm, desired.id)
    assert arm.release(desired.id, RULE) == "Released"
    after = settle(arm, desired.id)
    assert after["tags"] == {"team": "net"}
    assert after["properties"]["addressSpace"] == before["properties"]["addressSpace"]
    assert arm.release(desired.id, RULE) == "NotOwned"


def test_throttling_within_azure_core_retries_is_invisible(arm: Arm, cloud: SandboxCloud, rg: str) -> None:
    cloud.admin.inject_fault("virtualNetworks/vnet", status=429, count=2, method="GET", retry_after=0.01)
    assert arm.observe(vnet(cloud, rg).id) is None
    assert len(cloud.admin.requests(method="GET", path_contains=f"{rg}/providers")) == 3


def test_sustained_throttling_surfaces_as_retryable_with_the_servers_delay(
    arm: Arm, cloud: SandboxCloud, rg: str
) -> None:
    cloud.admin.inject_fault("virtualNetworks/vnet", status=429, count=10, method="GET", retry_after=0.02)
    with pytest.raises(RetryableError) as caught:
        arm.observe(vnet(cloud, rg).id)
    assert caught.value.classified.code == "TooManyRequests"
    assert caught.value.classified.delay == pytest.approx(0.02)


def test_calls_are_counted_per_method(arm: Arm, ctx: CloudContext, cloud: SandboxCloud, rg: str) -> None:
    arm.ensure(vnet(cloud, rg), RULE)
    assert ctx.calls["GET"] == 1 and ctx.calls["PUT"] == 1
