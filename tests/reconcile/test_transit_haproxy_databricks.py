"""The Databricks side of a haproxy ServerlessTransit: exact-connection approval, rejections, regions,
reserved domain names, credentials, restarts - against the sandbox through the real SDK clients."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from .transit_haproxy_env import (  # noqa: F401 (fixtures: transit_env, haproxy_cloud, ...)
    Env,
    haproxy_cloud_fixture,
    haproxy_cloud_module_fixture,
    haproxy_executor_fixture,
    transit_env_fixture,
)


def our_connection(env: Env) -> dict:
    endpoint = env.status["ncc"]["endpointName"]
    [connection] = [c for c in env.connections() if c["endpointId"].endswith("/" + endpoint)]
    return connection


def pass_until(env: Env, predicate, passes: int = 30) -> None:  # type: ignore[no-untyped-def]
    for _ in range(passes):
        env.reconcile()
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_only_the_rules_connection_is_approved_when_a_foreign_one_is_pending_first(transit_env: Env) -> None:
    env = transit_env
    stranger: dict[str, object] = {}

    def foreign_endpoint_first(method: str, url: str) -> None:
        # The operator is about to GET its PLS: the pass that sees it provisioned creates the NCC rule
        # right after. So the foreign endpoint connects here, before that GET, once the PLS exists and is
        # Succeeded: first in the PLS's connection list whatever the timing.
        pls_id = urlsplit(url).path
        if stranger or method != "GET" or pls_id.count("/") != 8 or "/privatelinkservices/" not in pls_id.lower():
            return
        pls = env.cloud.admin.resource(pls_id)
        if pls is None:
            return
        for _ in range(500):  # its PUT's LRO (50 ms in this sandbox)
            if pls and pls["properties"]["provisioningState"] == "Succeeded":
                break
            time.sleep(0.01)
            pls = env.cloud.admin.resource(pls_id)
        stranger["pls"] = pls and pls["properties"]["provisioningState"]
        stranger["rules"] = [r for r in env.cloud.databricks.rules.values() if r["resource_id"] == pls_id]
        endpoint: dict[str, Any] = {
            "location": "eastus2",
            "properties": {
                "subnet": {"id": f"{env.vnet_id}/subnets/consumers"},
                "manualPrivateLinkServiceConnections": [
                    {"name": "conn", "properties": {"privateLinkServiceId": pls_id, "requestMessage": "hi"}}
                ],
            },
        }
        env.network.private_endpoints.begin_create_or_update(  # type: ignore[call-overload]
            env.rg, "pe-stranger", endpoint
        ).result()

    env.on_call.append(foreign_endpoint_first)
    env.until_ready()
    assert stranger.get("pls") == "Succeeded" and stranger["rules"] == [], "the foreign endpoint must come first"
    by_endpoint = {c["endpointId"].rsplit("/", 1)[1]: c["status"] for c in env.connections()}
    assert by_endpoint == {"pe-stranger": "Pending", env.status["ncc"]["endpointName"]: "Approved"}
    approvals = [w for w in env.arm_writes() if w[0] == "PUT" and "/privateEndpointConnections/" in w[1]]
    assert len(approvals) == 1 and approvals[0][1].endswith(our_connection(env)["name"])


def test_a_connection_rejected_out_of_band_is_reported_not_reapproved(transit_env: Env) -> None:
    env = transit_env
    env.until_ready()
    rule_id = env.status["ncc"]["ruleId"]
    env.cloud.admin.set_connection_state(env.pls_id, our_connection(env)["name"], "Rejected", "not today")
    env.clear_logs()
    outcome = env.reconcile()
    stalled = env.condition("Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "ConnectionRejected")
    assert "reapproveRejected" in stalled["message"]
    assert env.condition("NccRuleEstablished")["status"] == "False"
    assert env.arm_writes() == [] and env.databricks_writes() == []
    assert [e.reason for e in outcome.events] == ["ConnectionRejected"]
    assert env.reconcile().events == []  # reported once, not on every pass

    env.body["spec"]["databricks"]["reapproveRejected"] = True
    env.body["metadata"]["generation"] = 2
    env.until_ready()
    assert env.status["ncc"]["ruleId"] != rule_id
    statuses = sorted(c["status"] for c in env.connections())
    assert statuses == ["Approved", "Rejected"]  # the rejected one stays rejected; a new one was approved


def test_a_workspace_in_another_region_stops_before_anything_is_created(transit_env: Env) -> None:
    env = transit_env
    env.cloud.databricks.set_workspace_region(env.workspace_id, "westeurope")
    outcome = env.reconcile()
    stalled = env.condition("Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "RegionMismatch")
    assert "eastus2" in stalled["message"] and "westeurope" in stalled["message"]
    assert env.arm_writes() == [] and env.databricks_writes() == []
    assert outcome.requeue_after is None


@pytest.mark.parametrize(
    ("change", "path"),
    [
        pytest.param(
            {"extraDomainNames": ["kafka.corp.internal"]},
            "spec.databricks.extraDomainNames[0]",
            id="internal",
        ),
        pytest.param(
            {"extraDomainNames": ["*.brokers.local"]}, "spec.databricks.extraDomainNames[0]", id="local"
        ),
        pytest.param({"ncc": {"name": "x"}}, "spec.databricks.ncc.name", id="short-ncc-name"),
    ],
)
def test_an_invalid_spec_is_stalled_with_the_field_path_and_nothing_is_called(
    transit_env: Env, change: dict, path: str
) -> None:
    env = transit_env
    env.body["spec"]["databricks"].update(change)
    outcome = env.reconcile()
    stalled = env.condition("Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "InvalidSpec")
    assert stalled["message"].startswith(path)
    assert env.calls == [] and env.cloud.databricks.requests() == []
    assert outcome.requeue_after is None


@pytest.mark.parametrize(
    ("cpl_change", "message"),
    [
        pytest.param("missing", "does not exist", id="missing"),
        pytest.param("not-ready", "is not Ready", id="not-ready"),
    ],
)
def test_the_transit_waits_for_a_ready_confluent_private_link(
    transit_env: Env, cpl_change: str, message: str
) -> None:
    env = transit_env
    if cpl_change == "missing":
        env.cpl = None  # type: ignore[assignment]
    else:
        env.cpl["status"]["conditions"][0].update(status="False", reason="WaitingForApproval")
    outcome = env.reconcile()
    ready = env.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("False", "WaitingForDependency")
    assert message in ready["message"]
    assert outcome.requeue_after
    if cpl_change == "missing":
        assert env.calls == []
        return
    # The ConfluentPrivateLink exists: what needs nothing from it is created meanwhile (NSG, LB, then the PLS
    # once the LB is provisioned); the VMSS (its endpoint IPs in customData) and Databricks wait.
    written = {url.split("?")[0].split("/providers/")[1].split("/")[1] for _, url in env.arm_writes()}
    assert written == {"networkSecurityGroups", "loadBalancers"}
    assert not [url for _, url in env.calls if env.cloud.databricks_url in url]
    for _ in range(40):  # passes until the LB's LRO (tens of ms in the sandbox) has ended
        env.reconcile()
        written = {url.split("?")[0].split("/providers/")[1].split("/")[1] for _, url in env.arm_writes()}
        if "privateLinkServices" in written:
            break
        time.sleep(0.05)
    assert written == {"networkSecurityGroups", "loadBalancers", "privateLinkServices"}
    assert env.condition("Ready")["reason"] == "WaitingForDependency"


def test_credentials_come_from_the_secret_and_never_reach_status_or_events(transit_env: Env) -> None:
    env = transit_env
    secrets: dict[tuple[str, str], dict[str, str]] = {}
    env.ctx.read_secret = lambda namespace, name: secrets.get((namespace, name))
    env.ctx.databricks_token = None
    env.body["spec"]["databricks"]["credentialsSecretRef"] = {"name": "databricks-admin"}
    env.reconcile()
    ready = env.condition("Ready")
    assert (ready["reason"], env.arm_writes()) == ("WaitingForDependency", [])
    assert "team-a/databricks-admin" in ready["message"]

    secrets[("team-a", "databricks-admin")] = {"token": env.cloud.token}
    events = []
    outcome = env.reconcile()
    for _ in range(40):
        events += outcome.events
        if env.ready:
            break
        time.sleep(0.05)
        outcome = env.reconcile()
    assert env.ready
    assert env.cloud.token not in json.dumps(env.status) + json.dumps([e.message for e in events])


def test_a_restart_that_lost_the_status_finds_everything_again(transit_env: Env) -> None:
    env = transit_env
    env.until_ready()
    before = dict(env.status["ncc"])
    nccs = len(env.cloud.databricks.nccs)
    env.body["status"] = {}
    env.clear_logs()
    env.until_ready()
    time.sleep(0.2)  # the clean-up DELETEs are long-running operations; let them land in the log
    assert env.status["ncc"] == before
    assert len(env.cloud.databricks.nccs) == nccs
    assert env.databricks_writes() == []
    # nothing rewritten; each instance is asked at most once which config it runs (a verified no-op: a
    # run command started, then cleaned up; or the earlier rollout's command, still there, read again)
    writes = env.arm_writes()
    assert all("/runCommands/transit-apply-" in path for _, path in writes), writes
    started = len(env.run_commands())
    assert started <= 3
    assert {c.result for c in env.executor.runs()[len(env.executor.runs()) - started :]} <= {"unchanged"}
