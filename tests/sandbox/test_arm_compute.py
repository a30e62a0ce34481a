"""Microsoft.Compute scale sets through azure-mgmt-compute 39.0: instances, NICs, customData, run-command (action
and managed)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from transit_sandbox.executor import RecordingExecutor


def _vmss(topo, capacity: int = 2, custom_data: bytes | None = b"#cloud-config\n", upgrade: str = "Manual") -> dict:
    os_profile = {"computerNamePrefix": "haproxy", "adminUsername": "azureuser",
                  "linuxConfiguration": {"disablePasswordAuthentication": True}}
    if custom_data is not None:
        os_profile["customData"] = base64.b64encode(custom_data).decode()
    return {
        "location": topo.location,
        "sku": {"name": "Standard_D2s_v5", "tier": "Standard", "capacity": capacity},
        "properties": {
            "orchestrationMode": "Uniform",
            "upgradePolicy": {"mode": upgrade},
            "virtualMachineProfile": {
                "osProfile": os_profile,
                "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                                                      "sku": "server", "version": "latest"}},
                "networkProfile": {"networkInterfaceConfigurations": [{"name": "nic", "properties": {
                    "primary": True, "ipConfigurations": [{"name": "ip", "properties": {
                        "subnet": {"id": topo.subnet("backend")},
                        "loadBalancerBackendAddressPools": [{"id": topo.id("loadBalancers", "lb") + "/backendAddressPools/pool"}],
                    }}]}}]},
            },
        },
    }


@pytest.fixture
def vmss(topo, compute_client):
    topo.create_lb()
    return compute_client.virtual_machine_scale_sets.begin_create_or_update(topo.rg, "proxy", _vmss(topo)).result()


def test_capacity_instances_with_nics_in_the_lb_pool(topo, vmss, compute_client, network_client, sandbox_cloud) -> None:
    assert vmss.provisioning_state == "Succeeded"
    assert vmss.sku.capacity == 2
    assert vmss.virtual_machine_profile.os_profile.custom_data is None  # write-only, never returned
    instances = list(compute_client.virtual_machine_scale_set_vms.list(topo.rg, "proxy"))
    assert sorted(i.instance_id for i in instances) == ["0", "1"]
    assert all(i.latest_model_applied for i in instances)
    nics = list(network_client.network_interfaces.list_virtual_machine_scale_set_network_interfaces(topo.rg, "proxy"))
    assert len(nics) == 2
    pool = network_client.load_balancer_backend_address_pools.get(topo.rg, "lb", "pool")
    assert {c.id.lower() for c in pool.backend_ip_configurations} == {n.ip_configurations[0].id.lower() for n in nics}
    executor = sandbox_cloud.arm.executor
    assert executor.instances[(vmss.id.lower(), "0")] == b"#cloud-config\n"


def test_scale_out_adds_new_ids_and_scale_in_removes_the_highest(topo, vmss, compute_client, sandbox_cloud) -> None:
    compute_client.virtual_machine_scale_sets.begin_update(topo.rg, "proxy", {"sku": {"capacity": 3}}).result()
    compute_client.virtual_machine_scale_sets.begin_update(topo.rg, "proxy", {"sku": {"capacity": 1}}).result()
    compute_client.virtual_machine_scale_sets.begin_update(topo.rg, "proxy", {"sku": {"capacity": 2}}).result()
    ids = sorted(i.instance_id for i in compute_client.virtual_machine_scale_set_vms.list(topo.rg, "proxy"))
    assert ids == ["0", "3"]
    assert ("deleted", vmss.id, "2") in sandbox_cloud.arm.executor.events


def test_rule_i_custom_data_change_reaches_only_new_or_reimaged_instances(topo, vmss, compute_client, sandbox_cloud) -> None:
    executor = sandbox_cloud.arm.executor
    compute_client.virtual_machine_scale_sets.begin_create_or_update(
        topo.rg, "proxy", _vmss(topo, custom_data=b"v2", capacity=3)).result()
    by_id = {i.instance_id: i for i in compute_client.virtual_machine_scale_set_vms.list(topo.rg, "proxy")}
    assert [by_id[i].latest_model_applied for i in ("0", "1", "2")] == [False, False, True]
    assert executor.instances[(vmss.id.lower(), "0")] == b"#cloud-config\n"
    assert executor.instances[(vmss.id.lower(), "2")] == b"v2"
    # updateInstances applies the model but cloud-init does not run again
    compute_client.virtual_machine_scale_sets.begin_update_instances(topo.rg, "proxy", {"instanceIds": ["0"]}).result()
    assert compute_client.virtual_machine_scale_set_vms.get(topo.rg, "proxy", "0").latest_model_applied
    assert executor.instances[(vmss.id.lower(), "0")] == b"#cloud-config\n"
    compute_client.virtual_machine_scale_set_vms.begin_reimage(topo.rg, "proxy", "1").result()
    assert compute_client.virtual_machine_scale_set_vms.get(topo.rg, "proxy", "1").latest_model_applied
    assert executor.instances[(vmss.id.lower(), "1")] == b"v2"


def test_rule_i_custom_data_is_limited_to_65535_bytes(topo, compute_client) -> None:
    topo.create_lb()
    compute_client.virtual_machine_scale_sets.begin_create_or_update(
        topo.rg, "ok", _vmss(topo, custom_data=b"x" * 65535, capacity=0)).result()
    with pytest.raises(HttpResponseError) as err:
        compute_client.virtual_machine_scale_sets.begin_create_or_update(
            topo.rg, "big", _vmss(topo, custom_data=b"x" * 65536, capacity=0))
    assert err.value.error.code == "InvalidParameter"


def test_lb_used_by_a_scale_set_cannot_be_deleted(topo, vmss, network_client) -> None:
    with pytest.raises(HttpResponseError) as err:
        network_client.load_balancers.begin_delete(topo.rg, "lb")
    assert err.value.error.code == "LoadBalancerInUseByVirtualMachineScaleSet"


def test_run_command_returns_truncated_output_like_azure(topo, vmss, compute_client, sandbox_cloud) -> None:
    executor = sandbox_cloud.arm.executor
    executor.result = (0, "x" * 5000 + "RESULT ok", "warning")
    try:
        result = compute_client.virtual_machine_scale_set_vms.begin_run_command(
            topo.rg, "proxy", "1", {"commandId": "RunShellScript", "script": ["echo hi"],
                                    "parameters": [{"name": "HASH", "value": "abc"}]}).result()
    finally:
        executor.result = (0, "", "")
    status = result.value[0]
    assert status.code == "ProvisioningState/succeeded"
    assert status.message.startswith("Enable succeeded: \n[stdout]\n")
    stdout = status.message.split("[stdout]\n", 1)[1].split("\n[stderr]\n")[0]
    assert len(stdout.encode()) == 4096 and stdout.endswith("RESULT ok")
    assert status.message.endswith("[stderr]\nwarning")
    command = executor.commands[-1]
    assert (command.instance_id, command.script, command.parameters) == ("1", ["echo hi"], {"HASH": "abc"})


def test_rule_f_one_run_command_at_a_time_per_instance(topo, vmss, compute_client, sandbox_cloud) -> None:
    release = threading.Event()

    class Blocking:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def run_command(self, *args):
            release.wait(5)
            return (0, "done", "")

    original = sandbox_cloud.arm.executor
    sandbox_cloud.arm.executor = Blocking(original)
    try:
        body = {"commandId": "RunShellScript", "script": ["sleep 1"]}
        first = compute_client.virtual_machine_scale_set_vms.begin_run_command(topo.rg, "proxy", "0", body)
        with pytest.raises(HttpResponseError) as err:
            compute_client.virtual_machine_scale_set_vms.begin_run_command(topo.rg, "proxy", "0", body)
        assert err.value.status_code == 409
        assert "Run command extension execution is in progress" in err.value.message
        other = compute_client.virtual_machine_scale_set_vms.begin_run_command(topo.rg, "proxy", "1", body)
        release.set()
        assert "done" in first.result().value[0].message
        assert "done" in other.result().value[0].message
    finally:
        release.set()
        sandbox_cloud.arm.executor = original


def test_deleting_the_scale_set_removes_instances_and_nics(topo, vmss, compute_client, network_client, sandbox_cloud) -> None:
    compute_client.virtual_machine_scale_sets.begin_delete(topo.rg, "proxy").result()
    assert list(network_client.network_interfaces.list_virtual_machine_scale_set_network_interfaces(topo.rg, "proxy")) == []
    assert (vmss.id.lower(), "0") not in sandbox_cloud.arm.executor.instances
    network_client.load_balancers.begin_delete(topo.rg, "lb").result()


class _SlowBoot:
    """Wraps the recording executor: `instance_created` blocks until released (a netns boot stands in)."""

    def __init__(self, inner, fail: bool = False) -> None:
        self.inner, self.fail = inner, fail
        self.release = threading.Event()
        self.booting = threading.Event()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def instance_created(self, vmss_id, instance_id, custom_data):
        self.booting.set()
        self.release.wait(10)
        if self.fail:
            raise RuntimeError("cloud-init failed")
        self.inner.instance_created(vmss_id, instance_id, custom_data)


def test_a_slow_instance_boot_stalls_no_other_request(topo, vmss, compute_client, network_client, sandbox_cloud) -> None:
    """The executor runs outside the store lock: while an instance boots, ARM answers everything else; the
    instance is Creating and the scale set Updating until the boot returns."""
    slow = _SlowBoot(sandbox_cloud.arm.executor)
    original, sandbox_cloud.arm.executor = sandbox_cloud.arm.executor, slow
    try:
        started = time.monotonic()
        compute_client.virtual_machine_scale_sets.begin_update(topo.rg, "proxy", {"sku": {"capacity": 3}}, polling=False)
        assert slow.booting.wait(5)
        assert network_client.virtual_networks.get(topo.rg, "vnet").name == "vnet"
        assert compute_client.virtual_machine_scale_set_vms.get(topo.rg, "proxy", "2").provisioning_state == "Creating"
        time.sleep(0.2)  # well past the LRO's own duration: the operation waits for the boot
        assert compute_client.virtual_machine_scale_sets.get(topo.rg, "proxy").provisioning_state == "Updating"
        assert time.monotonic() - started < 5
        assert (vmss.id.lower(), "2") not in original.instances
        slow.release.set()
        deadline = time.monotonic() + 5
        while compute_client.virtual_machine_scale_sets.get(topo.rg, "proxy").provisioning_state != "Succeeded":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert compute_client.virtual_machine_scale_set_vms.get(topo.rg, "proxy", "2").provisioning_state == "Succeeded"
        assert original.instances[(vmss.id.lower(), "2")] == b"#cloud-config\n"
    finally:
        slow.release.set()
        sandbox_cloud.arm.executor = original


def test_a_failed_instance_boot_fails_the_instance_and_the_scale_set_operation(topo, vmss, compute_client,
                                                                               sandbox_cloud) -> None:
    slow = _SlowBoot(sandbox_cloud.arm.executor, fail=True)
    slow.release.set()
    original, sandbox_cloud.arm.executor = sandbox_cloud.arm.executor, slow
    try:
        with pytest.raises(HttpResponseError) as err:
            compute_client.virtual_machine_scale_sets.begin_update(topo.rg, "proxy", {"sku": {"capacity": 3}}).result()
        assert "OSProvisioningClientError" in str(err.value)
        assert compute_client.virtual_machine_scale_set_vms.get(topo.rg, "proxy", "2").provisioning_state == "Failed"
    finally:
        sandbox_cloud.arm.executor = original


def test_executor_calls_of_one_instance_never_overtake_each_other(topo, vmss, compute_client, sandbox_cloud) -> None:
    """Scale out then straight back in while the boot is still running: the delete waits for the create."""
    slow = _SlowBoot(sandbox_cloud.arm.executor)
    original, sandbox_cloud.arm.executor = sandbox_cloud.arm.executor, slow
    try:
        compute_client.virtual_machine_scale_sets.begin_update(topo.rg, "proxy", {"sku": {"capacity": 3}}, polling=False)
        assert slow.booting.wait(5)
        original.events.clear()
        poller = compute_client.virtual_machine_scale_set_vms.begin_delete(topo.rg, "proxy", "2")
        time.sleep(0.2)
        assert not poller.done() and original.events == []
        slow.release.set()
        poller.result()
        assert original.events == [("created", vmss.id, "2"), ("deleted", vmss.id, "2")]
    finally:
        slow.release.set()
        sandbox_cloud.arm.executor = original

# --- managed run commands (`virtual_machine_scale_set_vm_run_commands`): the script runs through the same
# `InstanceExecutor.run_command` as the action form; instanceView states, exit code, 4 KB output, timeout,
# cancel by delete, no re-run of an unchanged command, the 25-per-VM limit.


class Gated:
    """The recording executor, with run_command held until `release` (or answering `result`)."""

    def __init__(self, inner: RecordingExecutor, result: tuple[int, str, str] = (0, "done\n", "")) -> None:
        self.inner, self.result = inner, result
        self.release, self.entered = threading.Event(), threading.Event()
        self.calls: list[tuple[str, list[str], dict[str, str]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def run_command(self, vmss_id: str, instance_id: str, script: list[str], parameters: dict[str, str]):
        self.calls.append((instance_id, script, parameters))
        self.entered.set()
        self.release.wait(10)
        return self.result


@pytest.fixture
def gated(sandbox_cloud) -> Iterator[Gated]:
    original = sandbox_cloud.arm.executor
    gate = Gated(original)
    sandbox_cloud.arm.executor = gate
    try:
        yield gate
    finally:
        gate.release.set()
        sandbox_cloud.arm.executor = original


def _command(script: str = "echo $CONFIG_HASH", **props: Any) -> dict[str, Any]:
    return {"location": "westeurope", "properties": {
        "source": {"script": script}, "parameters": [{"name": "CONFIG_HASH", "value": "abc"}], **props}}


def _view(compute_client, topo, name: str, instance: str = "0") -> Any:
    command = compute_client.virtual_machine_scale_set_vm_run_commands.get(
        topo.rg, "proxy", instance, name, expand="instanceView")
    return command.instance_view


def _until(probe, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while (value := probe()) is None or value is False:
        assert time.monotonic() < deadline, "not reached"
        time.sleep(0.05)
    return value


def test_a_command_goes_pending_running_succeeded_with_exit_code_and_output(topo, vmss, compute_client,
                                                                            sandbox_cloud, gated) -> None:
    gated.result = (0, "x" * 5000 + "RESULT ok\n", "warning\n")
    ops = compute_client.virtual_machine_scale_set_vm_run_commands
    poller = ops.begin_create_or_update(topo.rg, "proxy", "1", "apply", _command("line1\nline2"), polling=False)

    assert poller.result().provisioning_state == "Creating"
    assert gated.entered.wait(5)
    assert _view(compute_client, topo, "apply", "1").execution_state == "Running"
    assert ops.get(topo.rg, "proxy", "1", "apply").instance_view is None  # only with $expand=instanceView
    gated.release.set()
    view = _until(lambda: (v := _view(compute_client, topo, "apply", "1")).execution_state == "Succeeded" and v)

    assert view.exit_code == 0
    assert len(view.output.encode()) == 4096 and view.output.endswith("RESULT ok\n")
    assert view.error == "warning\n" and view.start_time and view.end_time
    assert gated.calls == [("1", ["line1", "line2"], {"CONFIG_HASH": "abc"})]
    assert _until(lambda: ops.get(topo.rg, "proxy", "1", "apply").provisioning_state == "Succeeded")


def test_a_non_zero_exit_is_failed_with_its_exit_code(topo, vmss, compute_client, gated) -> None:
    gated.result = (2, "TRANSIT_APPLY result=invalid\n", "haproxy -c failed\n")
    gated.release.set()
    compute_client.virtual_machine_scale_set_vm_run_commands.begin_create_or_update(
        topo.rg, "proxy", "0", "apply", _command()).result()

    view = _view(compute_client, topo, "apply")

    assert (view.execution_state, view.exit_code, view.error) == ("Failed", 2, "haproxy -c failed\n")


def test_treat_failure_as_deployment_failure_fails_the_put(topo, vmss, compute_client, gated) -> None:
    gated.result = (1, "", "boom\n")
    gated.release.set()
    with pytest.raises(HttpResponseError):
        compute_client.virtual_machine_scale_set_vm_run_commands.begin_create_or_update(
            topo.rg, "proxy", "0", "apply", _command(treatFailureAsDeploymentFailure=True)).result()
    command = compute_client.virtual_machine_scale_set_vm_run_commands.get(topo.rg, "proxy", "0", "apply")
    assert command.provisioning_state == "Failed"


def test_a_command_past_its_timeout_is_timed_out(topo, vmss, compute_client, gated) -> None:
    compute_client.virtual_machine_scale_set_vm_run_commands.begin_create_or_update(
        topo.rg, "proxy", "0", "apply", _command(timeoutInSeconds=1), polling=False)
    assert gated.entered.wait(5)

    view = _until(lambda: (v := _view(compute_client, topo, "apply")).execution_state == "TimedOut" and v, 5)
    gated.release.set()  # the script ends later: its result is not reported

    time.sleep(0.2)
    assert _view(compute_client, topo, "apply").execution_state == "TimedOut"
    assert view.exit_code is None


def test_deleting_a_running_command_cancels_it(topo, vmss, compute_client, gated) -> None:
    ops = compute_client.virtual_machine_scale_set_vm_run_commands
    ops.begin_create_or_update(topo.rg, "proxy", "0", "apply", _command(), polling=False)
    assert gated.entered.wait(5)

    ops.begin_delete(topo.rg, "proxy", "0", "apply").result()

    with pytest.raises(ResourceNotFoundError):
        ops.get(topo.rg, "proxy", "0", "apply")
    assert list(ops.list(topo.rg, "proxy", "0")) == []


def test_an_unchanged_command_is_not_run_again_and_a_changed_one_is(topo, vmss, compute_client, gated) -> None:
    gated.release.set()
    ops = compute_client.virtual_machine_scale_set_vm_run_commands
    ops.begin_create_or_update(topo.rg, "proxy", "0", "apply", _command()).result()
    ops.begin_create_or_update(topo.rg, "proxy", "0", "apply", _command()).result()
    assert len(gated.calls) == 1

    changed = _command()
    changed["properties"]["parameters"][0]["value"] = "def"
    ops.begin_create_or_update(topo.rg, "proxy", "0", "apply", changed).result()

    assert [call[2] for call in gated.calls] == [{"CONFIG_HASH": "abc"}, {"CONFIG_HASH": "def"}]
    assert _view(compute_client, topo, "apply").execution_state == "Succeeded"


def test_protected_parameters_reach_the_script_but_are_never_returned(topo, vmss, compute_client, gated) -> None:
    gated.release.set()
    ops = compute_client.virtual_machine_scale_set_vm_run_commands
    command = ops.begin_create_or_update(
        topo.rg, "proxy", "0", "apply",
        _command(protectedParameters=[{"name": "TOKEN", "value": "s3cret"}])).result()

    assert gated.calls[0][2] == {"CONFIG_HASH": "abc", "TOKEN": "s3cret"}
    assert command.protected_parameters is None
    assert "s3cret" not in str(ops.get(topo.rg, "proxy", "0", "apply", expand="instanceView").as_dict())


def test_at_most_25_managed_run_commands_per_vm(topo, vmss, compute_client, gated) -> None:
    gated.release.set()
    ops = compute_client.virtual_machine_scale_set_vm_run_commands
    for i in range(25):
        ops.begin_create_or_update(topo.rg, "proxy", "0", f"c{i}", _command(), polling=False)

    with pytest.raises(HttpResponseError) as refused:
        ops.begin_create_or_update(topo.rg, "proxy", "0", "c25", _command(), polling=False)
    assert "maximum number of managed Run commands (max=25, current=25)" in refused.value.message
    ops.begin_create_or_update(topo.rg, "proxy", "1", "c25", _command(), polling=False)  # per VM
    ops.begin_delete(topo.rg, "proxy", "0", "c0").result()
    ops.begin_create_or_update(topo.rg, "proxy", "0", "c25", _command(), polling=False)


def test_only_inline_scripts_run_in_the_emulator(topo, vmss, compute_client) -> None:
    body = {"location": "westeurope", "properties": {"source": {"scriptUri": "https://example.com/x.sh"}}}
    with pytest.raises(HttpResponseError) as refused:
        compute_client.virtual_machine_scale_set_vm_run_commands.begin_create_or_update(
            topo.rg, "proxy", "0", "apply", body)
    assert refused.value.status_code == 400 and "inline scripts only" in refused.value.message


def test_deleting_an_instance_removes_its_run_commands(topo, vmss, compute_client, gated) -> None:
    gated.release.set()
    ops = compute_client.virtual_machine_scale_set_vm_run_commands
    ops.begin_create_or_update(topo.rg, "proxy", "1", "apply", _command()).result()

    compute_client.virtual_machine_scale_set_vms.begin_delete(topo.rg, "proxy", "1").result()

    with pytest.raises(ResourceNotFoundError):
        ops.get(topo.rg, "proxy", "1", "apply")
