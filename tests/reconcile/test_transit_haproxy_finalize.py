"""Deleting a haproxy ServerlessTransit: the NCC rule goes before the Private Link Service; Orphan only
removes our tags. Against the sandbox through the real SDK clients."""

from __future__ import annotations

from typing import Any

from transit_operator.api.status import dump_status
from transit_operator.plan.ownership import OWNER_TAG
from transit_operator.reconcile import transit

from .transit_haproxy_env import (  # noqa: F401 (fixtures: transit_env, haproxy_cloud, ...)
    Env,
    haproxy_cloud_fixture,
    haproxy_cloud_module_fixture,
    haproxy_executor_fixture,
    transit_env_fixture,
)


def resource_ids(env: Env) -> list[str]:
    pls = env.pls_id
    return [
        env.vmss_id,
        pls,
        pls.replace("privateLinkServices/pls-", "loadBalancers/lb-"),
        pls.replace("privateLinkServices/pls-", "networkSecurityGroups/nsg-"),
    ]


def test_delete_removes_the_ncc_rule_before_the_private_link_service(transit_env: Env) -> None:
    env = transit_env
    env.until_ready()
    rule_id = env.status["ncc"]["ruleId"]
    seen_at_pls_delete: list[dict[str, Any] | None] = []

    def on_call(method: str, url: str) -> None:
        if method == "DELETE" and url.split("?")[0].lower().endswith(env.pls_id.lower()):
            rule = env.cloud.databricks.rules.get(rule_id)
            seen_at_pls_delete.append(dict(rule) if rule else None)

    env.on_call.append(on_call)
    outcome = env.finalize_until_done()
    assert seen_at_pls_delete, "the PLS was never deleted"
    rule = seen_at_pls_delete[0]
    assert rule is None or rule["deactivated"], "the rule must be deleted before the PLS"
    assert all(env.cloud.admin.resource(rid) is None for rid in resource_ids(env))
    deleted = [w for w in env.databricks_writes() if w[0] == "DELETE"]
    assert any(path.endswith(f"/private-endpoint-rules/{rule_id}") for _, path in deleted)
    # the workspace stays bound to the NCC: Databricks cannot detach it, so the NCC is kept and said so
    assert env.status["ncc"]["id"] in env.cloud.databricks.nccs
    reasons = [e.reason for e in outcome.events]
    assert "NccKept" in reasons


def test_delete_waits_for_a_foreign_connection_instead_of_rejecting_it(transit_env: Env) -> None:
    env = transit_env
    env.until_ready()
    env.network.private_endpoints.begin_create_or_update(
        env.rg,
        "pe-stranger",
        {
            "location": "eastus2",
            "properties": {
                "subnet": {"id": f"{env.vnet_id}/subnets/consumers"},
                "manualPrivateLinkServiceConnections": [
                    {"name": "conn", "properties": {"privateLinkServiceId": env.pls_id}}
                ],
            },
        },
    ).result()
    outcome = transit.finalize(env.body, env.ctx)
    assert not outcome.done
    stalled = next(c for c in dump_status(outcome.status)["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True" and "PrivateLinkService" in stalled["message"]
    assert [c["status"] for c in env.connections() if c["endpointId"].endswith("/pe-stranger")] == ["Pending"]
    assert env.cloud.admin.resource(env.pls_id) is not None


def test_orphan_keeps_every_resource_without_our_tags_and_leaves_databricks_alone(transit_env: Env) -> None:
    env = transit_env
    env.until_ready()
    env.body["spec"]["deletionPolicy"] = "Orphan"
    env.clear_logs()
    env.finalize_until_done()
    for rid in resource_ids(env):
        resource = env.cloud.admin.resource(rid)
        assert resource is not None
        assert OWNER_TAG not in {k.lower() for k in (resource.get("tags") or {})}
    assert env.databricks_writes() == []
    assert env.rule()["deactivated"] is False
