"""Deleting the CRs: `deletionPolicy: Delete` removes what the operator created, in Azure and Databricks;
`Orphan` leaves it all in place without the operator's tags. Either way the finalizers are released."""

from __future__ import annotations

from typing import Any

import pytest

from transit_operator.plan.ownership import MANAGED_BY_TAG, OWNER_TAG, UID_TAG

from .conftest import SXT, System, eventually, of_kind

OUR_TAGS = {MANAGED_BY_TAG, OWNER_TAG, UID_TAG}


def tagged_by_us(doc: dict[str, Any]) -> bool:
    return bool(OUR_TAGS & set(doc.get("tags") or {}))


def live_rules(system: System) -> list[dict[str, Any]]:
    return [rule for rule in system.cloud.databricks.rules.values() if not rule["deactivated"]]


async def applied_and_ready(system: System, option: str, policy: str) -> list[dict[str, Any]]:
    documents = system.example(option)
    for doc in documents:
        doc["spec"]["deletionPolicy"] = policy
    system.apply_all(documents)
    for doc in documents:
        await system.ready(doc)
    return documents


@pytest.mark.parametrize("option", ["haproxy", "applicationGateway"])
async def test_delete_policy_removes_the_cloud_resources_and_the_rule(system: System, option: str) -> None:
    documents = await applied_and_ready(system, option, "Delete")
    ours_before = [rid for rid, doc in system.arm_resources().items() if tagged_by_us(doc)]
    assert ours_before and live_rules(system)

    for doc in documents:
        system.delete(doc)
    await eventually(lambda: all(system.get(doc) is None for doc in documents))

    remaining = system.arm_resources()
    assert [rid for rid in ours_before if rid in remaining] == []
    assert not any(tagged_by_us(doc) for doc in remaining.values())
    assert {doc["type"] for doc in remaining.values()} == {"Microsoft.Network/virtualNetworks"}  # the customer's
    assert live_rules(system) == []  # deleted, or deactivated (Databricks removes those a day later)


@pytest.mark.parametrize("option", ["haproxy", "applicationGateway"])
async def test_orphan_policy_leaves_everything_in_place_without_our_tags(system: System, option: str) -> None:
    documents = await applied_and_ready(system, option, "Orphan")
    # Ready can come in the pass that starts deleting the finished config run commands (transient, ours):
    # they go on their own, and the rest is what Orphan must leave in place.
    await eventually(lambda: not any("/runcommands/" in rid for rid in system.arm_resources()))
    before = system.arm_resources()
    rules_before = [rule["rule_id"] for rule in live_rules(system)]

    for doc in documents:
        system.delete(doc)
    await eventually(lambda: all(system.get(doc) is None for doc in documents))

    after = system.arm_resources()
    assert sorted(after) == sorted(before)
    assert not any(tagged_by_us(doc) for doc in after.values())
    assert [rule["rule_id"] for rule in live_rules(system)] == rules_before
    workspace_id = of_kind(documents, SXT)["spec"]["databricks"]["workspaceIds"][0]
    assert system.cloud.databricks.workspaces[workspace_id]["network_connectivity_config_id"]
