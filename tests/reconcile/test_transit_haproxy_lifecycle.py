"""ServerlessTransit option haproxy end to end against the sandbox cloud, through the real SDK clients."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from transit_operator.reconcile import timing

from .transit_haproxy_env import (  # noqa: F401 (fixtures: transit_env, haproxy_cloud, ...)
    Env,
    haproxy_cloud_fixture,
    haproxy_cloud_module_fixture,
    haproxy_executor_fixture,
    transit_env_fixture,
)


def test_a_three_zone_transit_reaches_ready(transit_env: Env) -> None:
    transit_env.until_ready()
    status = transit_env.status
    assert status["backendIps"] == ["10.20.3.4", "10.20.3.5", "10.20.3.6"]
    assert status["ncc"]["connectionState"] == "ESTABLISHED"
    assert status["ncc"]["workspaceIds"] == [transit_env.workspace_id]
    assert sorted(status["ncc"]["domainNames"]) == sorted(
        ["lkc-xyz12.n-abc123.eastus2.azure.confluent.cloud", "*.n-abc123.eastus2.azure.confluent.cloud"]
        + [f"*.az{n}.n-abc123.eastus2.azure.confluent.cloud" for n in (1, 2, 3)]
    )
    desired = status["haproxy"]["desiredConfigHash"]
    assert [i["appliedConfigHash"] for i in status["haproxy"]["instances"]] == [desired] * 3
    assert transit_env.executor.hashes(transit_env.vmss_id) == {"0": desired, "1": desired, "2": desired}
    vmss = transit_env.cloud.admin.resource(transit_env.vmss_id)
    assert vmss is not None and vmss["zones"] == ["1", "2", "3"]
    assert transit_env.condition("NccRuleEstablished")["status"] == "True"
    assert transit_env.condition("ConfigApplied")["status"] == "True"


def test_a_steady_state_pass_reads_only(transit_env: Env) -> None:
    transit_env.until_ready()
    transit_env.clear_logs()
    outcome = transit_env.reconcile()
    assert transit_env.ready and outcome.requeue_after is None
    assert transit_env.arm_writes() == []
    assert transit_env.databricks_writes() == []
    reads = [c for c in transit_env.calls if c[0] == "GET"]
    # NSG, LB, PLS, VMSS, the VMSS instance list
    assert len(reads) == 5, reads
    databricks_reads = [r.path for r in transit_env.cloud.databricks.requests()]
    # the NCC by id, its rules, the workspace
    assert len(databricks_reads) == 3, databricks_reads


def test_changing_an_endpoint_ip_reconfigures_every_instance_exactly_once(transit_env: Env) -> None:
    transit_env.until_ready()
    old = transit_env.status["haproxy"]["desiredConfigHash"]
    transit_env.set_endpoint_ip("az2", "10.20.3.99")
    transit_env.clear_logs()
    runs_before = len(transit_env.executor.runs())
    transit_env.until_ready()
    new = transit_env.status["haproxy"]["desiredConfigHash"]
    assert new != old
    assert len(transit_env.run_commands()) == 3
    assert len(transit_env.executor.runs()) - runs_before == 3
    assert sorted(c.instance for c in transit_env.executor.runs()[runs_before:]) == ["0", "1", "2"]
    # one managed run command per instance, started (PUT), read, then cleaned up (DELETE): none is left
    writes = Counter(method for method, _ in transit_env.run_command_calls() if method != "GET")
    assert writes == {"PUT": 3, "DELETE": 3}
    time.sleep(0.2)  # the DELETEs are long-running operations (50 ms here)
    assert transit_env.run_commands_left() == {"0": [], "1": [], "2": []}
    vmss_puts = [w for w in transit_env.arm_writes() if w[0] == "PUT" and w[1].endswith(transit_env.vmss_id.rsplit("/", 1)[1])]
    assert len(vmss_puts) == 1  # the model's customData, for new and reimaged instances
    assert transit_env.executor.hashes(transit_env.vmss_id) == {"0": new, "1": new, "2": new}
    assert transit_env.status["backendIps"] == ["10.20.3.4", "10.20.3.99", "10.20.3.6"]  # by zone

    transit_env.clear_logs()
    transit_env.reconcile()
    assert transit_env.ready
    assert (
        transit_env.run_commands() == []
        and transit_env.arm_writes() == []
        and transit_env.databricks_writes() == []
    )


def test_a_failing_haproxy_check_keeps_the_instance_on_its_old_config_with_a_clear_status(
    transit_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timing, "CONFIG_REFUSED", 2.0)  # the back-off before a retry
    transit_env.until_ready()
    old = transit_env.status["haproxy"]["desiredConfigHash"]
    transit_env.executor.broken_check.add("1")
    transit_env.set_endpoint_ip("az1", "10.20.3.77")
    outcome = transit_env.reconcile()
    for _ in range(40):
        applied = transit_env.condition("ConfigApplied")
        if applied.get("reason") == "ConfigApplyFailed" and "in progress" not in applied["message"]:
            break
        time.sleep(0.05)
        outcome = transit_env.reconcile()
    new = transit_env.status["haproxy"]["desiredConfigHash"]
    instances = {i["instanceId"]: i for i in transit_env.status["haproxy"]["instances"]}
    assert instances["1"]["appliedConfigHash"] == old
    assert "invalid" in instances["1"]["lastError"] and "haproxy -c" in instances["1"]["lastError"]
    assert instances["0"] == {"instanceId": "0", "appliedConfigHash": new}
    assert transit_env.executor.hashes(transit_env.vmss_id)["1"] == old
    assert not transit_env.ready
    applied = transit_env.condition("ConfigApplied")
    assert (applied["status"], applied["reason"]) == ("False", "ConfigApplyFailed")
    assert "1" in applied["message"] and "haproxy -c" in applied["message"]
    assert outcome.requeue_after is not None
    assert any(e.reason == "ConfigApplyFailed" for e in outcome.events)

    # within the back-off, a pass reports the refusal again and retries nothing
    transit_env.clear_logs()
    again = transit_env.reconcile()
    assert transit_env.run_commands() == []
    assert transit_env.condition("ConfigApplied")["reason"] == "ConfigApplyFailed"
    assert again.requeue_after == timing.CONFIG_REFUSED

    # fixed on the instance: once the back-off has passed, only that instance is retried, and the transit
    # is Ready
    transit_env.executor.broken_check.clear()
    time.sleep(2.0)
    transit_env.clear_logs()
    transit_env.until_ready()
    assert [p.rsplit("/virtualMachines/", 1)[1].split("/")[0] for _, p in transit_env.run_commands()] == ["1"]
    assert transit_env.executor.hashes(transit_env.vmss_id)["1"] == new


def test_instances_added_by_a_scale_out_are_configured(transit_env: Env) -> None:
    transit_env.until_ready()
    desired = transit_env.status["haproxy"]["desiredConfigHash"]
    transit_env.body["spec"]["haproxy"]["instanceCount"] = 5
    transit_env.body["metadata"]["generation"] = 2
    transit_env.clear_logs()
    transit_env.until_ready()
    instances = transit_env.status["haproxy"]["instances"]
    assert [i["instanceId"] for i in instances] == ["0", "1", "2", "3", "4"]
    assert {i["appliedConfigHash"] for i in instances} == {desired}
    # only the new instances got a command (they booted with the model's customData: a verified no-op)
    assert sorted(p.split("/virtualMachines/")[1].split("/")[0] for _, p in transit_env.run_commands()) == [
        "3",
        "4",
    ]
    assert transit_env.condition("Ready")["observedGeneration"] == 2
