"""`cloud.runcommand.advance`: the managed run-command rollout, one step per call, through the real
`ComputeManagementClient` against the sandbox's emulated `runCommands` (every exchange is judged against
the Azure REST specs). The instances answer like the apply script, with what each test makes them say."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient

from transit_operator.cloud.context import StaticTokenCredential
from transit_operator.cloud.runcommand import (
    APPLY_TIMEOUT_SECONDS,
    COMMAND_PREFIX,
    InstanceApply,
    advance,
    build_run_command,
    list_instance_ids,
)
from transit_operator.plan.haproxy_config import config_hash, render_apply_script
from transit_sandbox import conformance
from transit_sandbox.server import SandboxCloud
from transit_sandbox.world import create_transit_vnet

LOCATION = "eastus2"
CONFIG = "global\n    log stdout format raw local0\n"
NEW_CONFIG = CONFIG + "defaults\n    timeout connect 5s\n"
Answer = Callable[[str, dict[str, str]], tuple[int, str, str]]


def line(result: str, digest: str, detail: str = "x") -> str:
    return f"noise\nTRANSIT_APPLY result={result} hash={digest} detail={detail}\n"


def applied(instance: str, params: dict[str, str]) -> tuple[int, str, str]:
    return 0, line("applied", params["CONFIG_HASH"], "reloaded"), ""


@dataclass
class Instances:
    """The scale set's instances: `answers` by instance id (default: applied); `gate`, when set, holds
    every command until released; `started` counts commands per instance."""

    answers: dict[str, Answer] = field(default_factory=dict)
    gate: threading.Event | None = None
    started: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def instance_created(self, vmss_id: str, instance_id: str, custom_data: bytes | None) -> None:
        pass

    def instance_deleted(self, vmss_id: str, instance_id: str) -> None:
        pass

    def run_command(self, vmss_id: str, instance_id: str, script: list[str], parameters: dict[str, str]):
        assert script == render_apply_script()
        with self.lock:
            self.started.append((instance_id, dict(parameters)))
        if self.gate is not None:
            self.gate.wait(10)
        return self.answers.get(instance_id, applied)(instance_id, parameters)

    def started_on(self) -> list[str]:
        with self.lock:
            return sorted(i for i, _ in self.started)


@pytest.fixture(scope="module")
def instances() -> Instances:
    return Instances()


@pytest.fixture(scope="module")
def cloud(instances: Instances) -> Iterator[SandboxCloud]:
    with SandboxCloud(executor=instances, check_conformance=True) as sandbox:
        sandbox.admin.set_lro_seconds(None, 0.02)
        yield sandbox
        violations = sandbox.admin.take_violations()  # every ARM exchange, judged against the specs
        assert violations == [], conformance.report(violations)


@pytest.fixture
def compute(cloud: SandboxCloud) -> ComputeManagementClient:
    return ComputeManagementClient(StaticTokenCredential(cloud.token), cloud.subscription_id, base_url=cloud.arm_url,
                                   connection_verify=cloud.ca_bundle, polling_interval=0.02)


@pytest.fixture
def scale_set(cloud: SandboxCloud, compute: ComputeManagementClient, instances: Instances,
              request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A resource group with a 4-instance scale set; the instances' answers reset afterwards."""
    rg = f"rg-{request.node.name}"[:80].replace("[", "-").replace("]", "")
    network = NetworkManagementClient(StaticTokenCredential(cloud.token), cloud.subscription_id,
                                      base_url=cloud.arm_url, connection_verify=cloud.ca_bundle, polling_interval=0.02)
    create_transit_vnet(network, rg, LOCATION)
    subnet = network.subnets.get(rg, "vnet", "transit").id
    compute.virtual_machine_scale_sets.begin_create_or_update(rg, "proxy", {
        "location": LOCATION, "sku": {"name": "Standard_D2s_v5", "capacity": 4},
        "properties": {"upgradePolicy": {"mode": "Manual"}, "virtualMachineProfile": {
            "osProfile": {"computerNamePrefix": "proxy", "adminUsername": "azureuser"},
            "networkProfile": {"networkInterfaceConfigurations": [{"name": "nic", "properties": {
                "primary": True, "ipConfigurations": [{"name": "ip", "properties": {"subnet": {"id": subnet}}}]}}]},
        }},
    }).result()
    yield rg, "proxy"
    if instances.gate is not None:
        instances.gate.set()
    instances.answers.clear()
    instances.gate = None
    with instances.lock:
        instances.started.clear()


def step(compute: ComputeManagementClient, scale_set: tuple[str, str], ids: list[str], config: str = CONFIG,
         **kwargs: Any) -> dict[str, InstanceApply]:
    options: dict[str, Any] = {"config": config, "location": LOCATION, "concurrency": 2, "retry_after": 60.0}
    options.update(kwargs)
    return advance(compute, *scale_set, ids, **options)


def until(compute: ComputeManagementClient, scale_set: tuple[str, str], ids: list[str],
          **kwargs: Any) -> tuple[dict[str, InstanceApply], int]:
    """Steps until every instance has an answer, as the reconciler drives them: an instance that answered
    is not stepped again. (The answers, steps taken.)"""
    answered: dict[str, InstanceApply] = {}
    for steps in range(1, 60):
        todo = [i for i in ids if i not in answered]
        for instance, result in step(compute, scale_set, todo, **kwargs).items():
            if result.state not in ("running", "waiting"):
                answered[instance] = result
        if len(answered) == len(ids):
            return answered, steps
        time.sleep(0.05)
    raise AssertionError(f"still under way: {sorted(set(ids) - set(answered))}")


def left(compute: ComputeManagementClient, scale_set: tuple[str, str], instance: str) -> list[str]:
    time.sleep(0.1)  # deletes are long-running operations
    return [c.name for c in compute.virtual_machine_scale_set_vm_run_commands.list(*scale_set, instance)]


def test_the_body_carries_the_script_a_timeout_and_the_config_only_as_parameters() -> None:
    body = build_run_command(CONFIG, LOCATION)
    props = body["properties"]
    assert body["location"] == LOCATION
    assert props["source"]["script"].splitlines() == render_apply_script()
    params = {p["name"]: p["value"] for p in props["parameters"]}
    assert base64.b64decode(params["CONFIG_B64"]).decode() == CONFIG
    assert params["CONFIG_HASH"] == config_hash(CONFIG)
    assert CONFIG.splitlines()[0] not in props["source"]["script"]
    assert props["timeoutInSeconds"] == APPLY_TIMEOUT_SECONDS


def test_instances_are_listed_in_numeric_order(compute, scale_set) -> None:
    compute.virtual_machine_scale_sets.begin_update(*scale_set, {"sku": {"capacity": 11}}).result()
    assert list_instance_ids(compute, *scale_set) == [str(i) for i in range(11)]


def test_a_step_starts_at_most_concurrency_commands_and_the_next_reads_them(compute, scale_set, instances) -> None:
    instances.gate = threading.Event()
    ids = ["0", "1", "2", "3"]

    first = step(compute, scale_set, ids, concurrency=2)

    assert [first[i].state for i in ids] == ["running", "running", "waiting", "waiting"]
    again = step(compute, scale_set, ids, concurrency=2)  # nothing finished: nothing more starts
    assert [again[i].state for i in ids] == ["running", "running", "waiting", "waiting"]
    assert again["0"].command == first["0"].command  # the same command, read back
    instances.gate.set()
    results, _ = until(compute, scale_set, ids, concurrency=2)

    assert {r.state for r in results.values()} == {"applied"}
    assert instances.started_on() == ids  # exactly one command per instance
    assert all(left(compute, scale_set, i) == [] for i in ids)  # read, then cleaned up


def test_a_running_command_for_an_older_config_is_cancelled_and_the_new_one_started(
        compute, scale_set, instances) -> None:
    instances.gate = threading.Event()
    old = step(compute, scale_set, ["0"])["0"]

    new = step(compute, scale_set, ["0"], config=NEW_CONFIG)["0"]

    assert old.command and new.command and new.command != old.command
    assert new.state == "running" and new.config_hash == config_hash(NEW_CONFIG)
    assert old.command not in left(compute, scale_set, "0")  # deleted: its script is ended
    instances.gate.set()
    results, _ = until(compute, scale_set, ["0"], config=NEW_CONFIG)
    assert results["0"].state == "applied" and results["0"].config_hash == config_hash(NEW_CONFIG)


def refused(instance: str, params: dict[str, str]) -> tuple[int, str, str]:
    return 2, line("invalid", params["CONFIG_HASH"], "haproxy -c: [ALERT] parsing"), "check failed\n"


def rolled_back(instance: str, params: dict[str, str]) -> tuple[int, str, str]:
    return 1, line("failed", params["CONFIG_HASH"], "reload failed, rolled back"), ""


def unchanged(instance: str, params: dict[str, str]) -> tuple[int, str, str]:
    return 0, line("unchanged", params["CONFIG_HASH"], "already-applied"), ""


def no_result_line(instance: str, params: dict[str, str]) -> tuple[int, str, str]:
    return 0, "...cut", ""


def other_hash(instance: str, params: dict[str, str]) -> tuple[int, str, str]:
    return 0, line("applied", "0123456789abcdef"), ""


def ok_line_but_exit_code(instance: str, params: dict[str, str]) -> tuple[int, str, str]:
    return 3, line("applied", params["CONFIG_HASH"]), "segfault\n"


@pytest.mark.parametrize(
    ("answer", "state", "error"),
    [
        pytest.param(unchanged, "unchanged", None, id="already-applied"),
        pytest.param(refused, "invalid", "exit code 2: haproxy -c", id="check-failed"),
        pytest.param(rolled_back, "failed", "exit code 1: reload failed", id="reload-failed"),
        pytest.param(no_result_line, "unknown", "no TRANSIT_APPLY line", id="no-result-line"),
        pytest.param(other_hash, "unknown", "another hash 0123456789abcdef", id="another-hash"),
        pytest.param(ok_line_but_exit_code, "failed", "exit code 3", id="non-zero-exit"),
    ],
)
def test_one_instance_outcome_does_not_affect_the_others(compute, scale_set, instances, answer: Answer,
                                                        state: str, error: str | None) -> None:
    instances.answers["1"] = answer
    results, _ = until(compute, scale_set, ["0", "1", "2"], concurrency=3)

    assert results["1"].state == state
    assert (results["1"].error is None) == (error is None)
    assert error is None or error in (results["1"].error or "")
    assert results["0"].state == results["2"].state == "applied"


def test_a_refused_config_is_kept_reported_and_retried_only_after_the_back_off(compute, scale_set, instances) -> None:
    instances.answers["0"] = refused
    results, _ = until(compute, scale_set, ["0"], retry_after=0.6)
    assert results["0"].state == "invalid"

    again = step(compute, scale_set, ["0"], retry_after=0.6)  # within the back-off

    assert again["0"].state == "invalid" and len(instances.started) == 1
    assert left(compute, scale_set, "0") == [results["0"].command]  # kept: it is the record
    instances.answers.pop("0")
    time.sleep(0.6)
    last = step(compute, scale_set, ["0"], retry_after=0.6)  # reported once more, then cleaned up
    assert last["0"].state == "invalid" and left(compute, scale_set, "0") == []
    results, _ = until(compute, scale_set, ["0"], retry_after=0.6)  # a new command
    assert results["0"].state == "applied" and len(instances.started) == 2
    assert left(compute, scale_set, "0") == []


def test_a_command_past_its_timeout_is_timed_out(compute, scale_set, instances, monkeypatch) -> None:
    from transit_operator.cloud import runcommand

    monkeypatch.setattr(runcommand, "APPLY_TIMEOUT_SECONDS", 1)
    instances.gate = threading.Event()
    results, _ = until(compute, scale_set, ["0"])
    instances.gate.set()

    assert results["0"].state == "timedout" and "timed out" in (results["0"].error or "")


def test_an_error_listing_one_instance_leaves_the_others_going(cloud, compute, scale_set) -> None:
    cloud.admin.inject_fault("/virtualMachines/1/runCommands", status=500, count=10, method="GET")
    try:
        results = step(compute, scale_set, ["0", "1"])
    finally:
        cloud.admin.clear_faults()

    assert results["0"].state == "running"
    assert results["1"].state == "error" and "InternalServerError" in (results["1"].error or "")


def test_run_commands_that_are_not_ours_are_left_alone(compute, scale_set) -> None:
    theirs = {"location": LOCATION, "properties": {"source": {"script": "echo theirs"}}}
    compute.virtual_machine_scale_set_vm_run_commands.begin_create_or_update(*scale_set, "0", "theirs", theirs).result()

    until(compute, scale_set, ["0"])

    assert left(compute, scale_set, "0") == ["theirs"]


def test_every_execution_gets_a_fresh_name(compute, scale_set, instances) -> None:
    names = iter(["a", "b"])
    instances.answers["0"] = refused
    first, _ = until(compute, scale_set, ["0"], retry_after=0.0, name_suffix=lambda: next(names))
    second, _ = until(compute, scale_set, ["0"], retry_after=0.0, name_suffix=lambda: next(names))

    digest = config_hash(CONFIG)
    assert (first["0"].command, second["0"].command) == (f"{COMMAND_PREFIX}{digest}-a", f"{COMMAND_PREFIX}{digest}-b")


def test_no_instances_no_requests(cloud, compute, scale_set) -> None:
    cloud.admin.clear_requests()
    assert step(compute, scale_set, []) == {}
    assert cloud.admin.requests() == []
