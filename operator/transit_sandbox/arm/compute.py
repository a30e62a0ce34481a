"""Microsoft.Compute virtual machine scale sets (Uniform orchestration) and their instances.

The scale set's *model* (`virtualMachineProfile`) and its *instances* are distinct, as in Azure:
- `sku.capacity` instances exist, with ids "0", "1", ... that are never reused; scale-in removes the highest.
- Each instance was built from one model version. Changing the model leaves existing instances on the old
  one (`latestModelApplied: false`) until `updateInstances` (`manualupgrade`) or a reimage; with
  `upgradePolicy.mode: Automatic` the platform applies the model at once. New instances get the current
  model.
- customData is only consumed when an instance is created or reimaged (cloud-init runs on first boot):
  applying a new model to a running instance does not re-run it
  (https://learn.microsoft.com/azure/virtual-machines/custom-data#can-i-update-custom-data-after-the-vm-has-been-created).
  It is never returned by GET (it may hold secrets), so a client cannot read it back to compare.
- Each instance has one NIC per `networkInterfaceConfigurations` entry, with a private IP from the subnet,
  joined to the load balancer backend pools its IP configuration lists.
- `runCommand` (action form) runs the script through the `InstanceExecutor`; one at a time per instance;
  the result message carries only the last 4096 bytes of stdout and stderr
  (https://learn.microsoft.com/azure/virtual-machines/linux/run-command#restrictions).
- Managed run commands (`.../virtualMachines/{id}/runCommands/{name}`, `RunCommand` below) are child
  resources that run their script through the same `InstanceExecutor.run_command`; see `RunCommand`.
- The executor (which may be slow: network namespaces, HAProxy) is never called under the store lock: its
  calls run in a pool, one after the other per instance (create, run-command, delete never overtake each
  other), and the operation that caused them completes only when they return. Meanwhile a new instance is
  `Creating`, and the scale set `Updating`/`Creating`; an executor failure fails the instance
  (`OSProvisioningClientError`) and the scale set operation.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from .core import (
    COMPUTE_API_VERSIONS,
    Arm,
    ArmError,
    Kind,
    ResourceId,
    Response,
    all_of,
    bad_request,
    lower,
    new_etag,
    raise_failures,
    utcnow,
)
from .ipam import allocate
from .network import VMSS_NIC, refuse_appgw_subnet

VMSS = "Microsoft.Compute/virtualMachineScaleSets"
VM = f"{VMSS}/virtualMachines"
RUN_COMMAND = f"{VM}/runCommands"
OUTPUT_LIMIT = 4096
CUSTOM_DATA_LIMIT = 65535
# "The maximum number of allowed Managed Run Commands is currently limited to 25" (run-command-overview.md)
MANAGED_RUN_COMMANDS_PER_VM = 25


def _invalid_custom_data() -> ArmError:
    # Azure's message for the same limit (expressed in base64 characters: 65535 bytes -> 87380 chars).
    return bad_request(
        "InvalidParameter",
        "Custom data in OSProfile must be in Base64 encoding and with a maximum length of 87380 characters.",
    )


def _model_hash(props: dict[str, Any], custom_data: str | None) -> str:
    model = {"profile": props.get("virtualMachineProfile"), "customData": custom_data}
    return hashlib.sha256(json.dumps(model, sort_keys=True).encode()).hexdigest()


class VirtualMachineScaleSet(Kind):
    type = VMSS
    api_versions = COMPUTE_API_VERSIONS
    creating_state = "Creating"
    read_only = ("uniqueId", "timeCreated")

    def validate(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        props = doc["properties"]
        if props.setdefault("orchestrationMode", "Uniform") != "Uniform":
            raise bad_request("OperationNotAllowed", "The emulator serves Uniform orchestration only.")
        capacity = doc.setdefault("sku", {}).setdefault("capacity", 2)
        if not isinstance(capacity, int) or not 0 <= capacity <= 1000:
            raise bad_request("InvalidParameter", f"sku.capacity {capacity!r} is out of range 0..1000.")
        profile = props.get("virtualMachineProfile")
        if not isinstance(profile, dict):
            raise bad_request("InvalidParameter", "Required parameter 'virtualMachineProfile' is missing (null).")
        props.setdefault("upgradePolicy", {"mode": "Manual"})
        os_profile = profile.setdefault("osProfile", {})
        custom_data = os_profile.pop("customData", None)
        if custom_data is None:
            # Write-only: a client cannot echo it back, so leaving it out keeps the current value.
            custom_data = doc.get("_customData")
        elif custom_data:
            try:
                decoded = base64.b64decode(custom_data, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise _invalid_custom_data() from exc
            if len(decoded) > CUSTOM_DATA_LIMIT:
                raise _invalid_custom_data()
        os_profile.pop("adminPassword", None)  # never returned either
        doc["_customData"] = custom_data
        nic_configs = profile.get("networkProfile", {}).get("networkInterfaceConfigurations") or []
        if not nic_configs:
            raise bad_request("InvalidParameter", "networkProfile.networkInterfaceConfigurations is required.")
        for nic in nic_configs:
            for cfg in nic.get("properties", {}).get("ipConfigurations") or []:
                subnet = cfg.get("properties", {}).get("subnet", {}).get("id")
                if not subnet:
                    raise bad_request("InvalidParameter", f"IP configuration {cfg.get('name')} needs a subnet.")
                refuse_appgw_subnet(arm, {"id": doc["id"], "properties": {"x": {"subnet": {"id": subnet}}}})
        model = _model_hash(props, custom_data)
        if doc.get("_modelHash") != model:
            doc["_modelHash"] = model
            doc["_modelVersion"] = doc.get("_modelVersion", 0) + 1
        doc.setdefault("_nextInstance", 0)
        props["uniqueId"] = (old or {}).get("properties", {}).get("uniqueId") or str(uuid.uuid4())
        props["timeCreated"] = (old or {}).get("properties", {}).get("timeCreated") or utcnow()

    def after_write(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        instances = self.instances(arm, doc)
        capacity = doc["sku"]["capacity"]
        for inst in sorted(instances, key=lambda i: int(i["instanceId"]), reverse=True)[: max(0, len(instances) - capacity)]:
            released = delete_instance(arm, doc, inst)
            if released is not None:
                arm.defer(doc["id"], released)
        for _ in range(capacity - len(instances)):
            create_instance(arm, doc)
        if doc["properties"]["upgradePolicy"].get("mode") in ("Automatic", "Rolling"):
            for inst in self.instances(arm, doc):
                apply_model(arm, doc, inst)

    def instances(self, arm: Arm, doc: dict[str, Any]) -> list[dict[str, Any]]:
        prefix = lower(doc["id"]) + "/virtualmachines/"
        return [d for k, d in arm.resources.items() if d["type"] == VM and k.startswith(prefix) and k.count("/") == prefix.count("/")]

    def cascade(self, arm: Arm, doc: dict[str, Any]) -> list[str]:
        prefix = lower(doc["id"]) + "/"
        return [d["id"] for k, d in arm.resources.items() if k.startswith(prefix)]

    def start_delete(self, arm: Arm, doc: dict[str, Any]) -> Future[Any] | None:
        doc["_released"] = True
        return all_of([release_instance(arm, doc["id"], inst["instanceId"]) for inst in self.instances(arm, doc)])

    def after_delete(self, arm: Arm, doc: dict[str, Any]) -> None:
        if doc.get("_released"):
            return
        for inst in self.instances(arm, doc):  # removed out of band (admin): release in the background
            release_instance(arm, doc["id"], inst["instanceId"])

    def view(self, arm: Arm, doc: dict[str, Any]) -> dict[str, Any]:
        out = super().view(arm, doc)
        out["sku"]["capacity"] = len(self.instances(arm, doc))
        return out

    def _selected(self, arm: Arm, doc: dict[str, Any], body: dict[str, Any], required: bool) -> list[dict[str, Any]]:
        ids = body.get("instanceIds")
        if ids is None and required:
            raise bad_request("InvalidParameter", "Required parameter 'instanceIds' is missing (null).")
        instances = self.instances(arm, doc)
        if ids is None or ids == ["*"]:
            return instances
        chosen = [i for i in instances if i["instanceId"] in {str(x) for x in ids}]
        if len(chosen) != len(set(ids)):
            raise bad_request("InvalidParameter", f"Instance ids {ids} are not all in scale set {doc['name']}.")
        return chosen

    def _update_instances(self, arm: Arm, doc: dict[str, Any], body: dict[str, Any]) -> Response:
        chosen = self._selected(arm, doc, body, required=True)

        def finish() -> None:
            for inst in chosen:
                apply_model(arm, doc, inst)

        op = arm.start_operation(doc["id"], VMSS, "post", doc["location"], finish=finish)
        return Response(202, None, arm.lro_headers(op))

    def _reimage(self, arm: Arm, doc: dict[str, Any], body: dict[str, Any]) -> Response:
        chosen = self._selected(arm, doc, body, required=False)
        started = [start_reimage(arm, doc, inst) for inst in chosen]
        futures = [future for future, _finish in started]

        def finish() -> None:
            for _future, finish_one in started:
                finish_one()
            raise_failures(futures)

        op = arm.start_operation(doc["id"], VMSS, "post", doc["location"], finish=finish, future=all_of(futures))
        return Response(202, None, arm.lro_headers(op))

    actions = {
        "manualupgrade": lambda kind, arm, doc, body: kind._update_instances(arm, doc, body),
        "reimage": lambda kind, arm, doc, body: kind._reimage(arm, doc, body),
        "reimageall": lambda kind, arm, doc, body: kind._reimage(arm, doc, body),
    }


def _custom_data_bytes(doc: dict[str, Any]) -> bytes | None:
    return base64.b64decode(doc["_customData"]) if doc.get("_customData") else None


def _instance_pool(arm: Arm) -> ThreadPoolExecutor:
    if arm.run_command_pool is None:
        arm.run_command_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="instance")
    return arm.run_command_pool


def instance_task(arm: Arm, vmss_id: str, iid: str, fn: Any, *args: Any) -> Future[Any]:
    """Run an executor call for one instance in the pool, outside the store lock, after that instance's
    previous call has returned. (The pool is FIFO, so a task only ever waits on an earlier one: no deadlock.)"""
    key = f"{lower(vmss_id)}/{iid}"
    previous = arm.instance_work.get(key)

    def run() -> Any:
        if previous is not None:
            wait([previous])
        return fn(*args)

    future = _instance_pool(arm).submit(run)
    arm.instance_work[key] = future
    return future


def _boot(executor: Any, vmss_id: str, iid: str, custom_data: bytes | None) -> None:
    try:
        executor.instance_created(vmss_id, iid, custom_data)
    except Exception as exc:  # the instance does not come up: OS provisioning fails
        raise ArmError(500, "OSProvisioningClientError",
                       f"OS provisioning for VM '{iid}' of scale set {vmss_id} failed: {exc}") from exc


def _shutdown(executor: Any, vmss_id: str, iid: str) -> None:
    try:
        executor.instance_deleted(vmss_id, iid)
    except Exception as exc:
        raise ArmError(500, "InternalServerError", f"Deleting VM '{iid}' of scale set {vmss_id} failed: {exc}") from exc


def boot_instance(arm: Arm, vmss_id: str, iid: str, custom_data: bytes | None) -> Future[Any]:
    return instance_task(arm, vmss_id, iid, _boot, arm.executor, vmss_id, iid, custom_data)


def release_instance(arm: Arm, vmss_id: str, iid: str) -> Future[Any]:
    return instance_task(arm, vmss_id, iid, _shutdown, arm.executor, vmss_id, iid)


def _provisioned(inst: dict[str, Any], future: Future[Any]) -> None:
    if future.exception() is not None:
        inst["properties"]["provisioningState"] = "Failed"
        raise_failures([future])


def create_instance(arm: Arm, vmss: dict[str, Any]) -> dict[str, Any]:
    """A new instance, `Creating` until the executor has booted it (outside the lock); the scale set's
    operation waits for it too."""
    iid = str(vmss["_nextInstance"])
    vmss["_nextInstance"] += 1
    inst_id = f"{vmss['id']}/virtualMachines/{iid}"
    prefix = vmss["properties"]["virtualMachineProfile"]["osProfile"].get("computerNamePrefix", vmss["name"])
    inst = {
        "id": inst_id, "name": f"{vmss['name']}_{iid}", "type": VM, "location": vmss["location"],
        "instanceId": iid, "sku": {k: v for k, v in vmss["sku"].items() if k != "capacity"}, "etag": new_etag(),
        "properties": {
            "provisioningState": "Creating", "vmId": str(uuid.uuid4()), "timeCreated": utcnow(),
            "osProfile": {"computerName": f"{prefix}{int(iid):06x}"},
            "networkProfile": {"networkInterfaces": []},
        },
    }
    if vmss.get("zones"):
        inst["zones"] = [vmss["zones"][int(iid) % len(vmss["zones"])]]
    arm.resources[lower(inst_id)] = inst
    apply_model(arm, vmss, inst)
    inst["_customData"] = vmss.get("_customData")
    future = boot_instance(arm, vmss["id"], iid, _custom_data_bytes(vmss))
    arm.defer(vmss["id"], future)
    arm.start_operation(inst_id, VM, "put", vmss["location"], finish=lambda: _provisioned(inst, future), future=future)
    return inst


def apply_model(arm: Arm, vmss: dict[str, Any], inst: dict[str, Any]) -> None:
    """Bring an instance to the current model: its NICs (subnet, pools). customData is *not* re-run."""
    inst["_modelVersion"] = vmss["_modelVersion"]
    nic_ids = []
    for nic_cfg in vmss["properties"]["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"]:
        nic_id = f"{inst['id']}/networkInterfaces/{nic_cfg['name']}"
        old = arm.get_doc(nic_id)
        configs = []
        taken: set[str] = set()
        for cfg in nic_cfg.get("properties", {}).get("ipConfigurations") or []:
            cp = cfg.get("properties", {})
            props: dict[str, Any] = {
                "subnet": {"id": cp["subnet"]["id"]},
                "privateIPAllocationMethod": "Dynamic",
                "primary": cp.get("primary", True),
                "loadBalancerBackendAddressPools": copy.deepcopy(cp.get("loadBalancerBackendAddressPools") or []),
            }
            old_cfg = next((c for c in (old or {}).get("properties", {}).get("ipConfigurations") or [] if c["name"] == cfg["name"]), None)
            allocate(arm, nic_id, props, (old_cfg or {}).get("properties"), taken)
            configs.append({"name": cfg["name"], "id": f"{nic_id}/ipConfigurations/{cfg['name']}", "properties": props})
        arm.resources[lower(nic_id)] = {
            "id": nic_id, "name": nic_cfg["name"], "type": VMSS_NIC, "location": vmss["location"], "etag": new_etag(),
            "properties": {"provisioningState": "Succeeded", "primary": nic_cfg.get("properties", {}).get("primary", True),
                           "ipConfigurations": configs, "virtualMachine": {"id": inst["id"]}},
        }
        nic_ids.append(nic_id)
    for stale in inst["properties"]["networkProfile"]["networkInterfaces"]:
        if lower(stale["id"]) not in {lower(n) for n in nic_ids}:
            arm.resources.pop(lower(stale["id"]), None)
    inst["properties"]["networkProfile"]["networkInterfaces"] = [{"id": n} for n in nic_ids]


def start_reimage(arm: Arm, vmss: dict[str, Any], inst: dict[str, Any]) -> tuple[Future[Any], Any]:
    """A reimage boots the instance fresh from the current model: cloud-init runs the new customData. The
    executor work starts now (outside the lock); the returned `finish` applies the model at completion."""
    custom_data = vmss.get("_customData")
    release_instance(arm, vmss["id"], inst["instanceId"])
    future = boot_instance(arm, vmss["id"], inst["instanceId"], _custom_data_bytes(vmss))

    def finish() -> None:
        apply_model(arm, vmss, inst)
        inst["_customData"] = custom_data
        if future.exception() is not None:
            inst["properties"]["provisioningState"] = "Failed"

    return future, finish


def delete_instance(arm: Arm, vmss: dict[str, Any], inst: dict[str, Any], release: bool = True) -> Future[Any] | None:
    """Remove an instance, its NICs and its run commands from the store; with `release`, its executor
    teardown starts (outside the lock) and is returned."""
    future = release_instance(arm, vmss["id"], inst["instanceId"]) if release else None
    for nic in inst["properties"]["networkProfile"]["networkInterfaces"]:
        arm.resources.pop(lower(nic["id"]), None)
    for command in run_commands_of(arm, inst["id"]):
        cancel_execution(arm, command["id"])
        arm.resources.pop(lower(command["id"]), None)
    arm.resources.pop(lower(inst["id"]), None)
    return future


def _truncate(text: str) -> str:
    data = text.encode()
    return data[-OUTPUT_LIMIT:].decode(errors="replace") if len(data) > OUTPUT_LIMIT else text


def _run_result(future: Future[tuple[int, str, str]]) -> dict[str, Any]:
    try:
        _code, stdout, stderr = future.result()
    except Exception as exc:  # the executor failed: the extension reports a failure
        raise ArmError(500, "VMExtensionProvisioningError", f"Run command extension failed: {exc}") from exc
    # UNCONFIRMED: whether a non-zero exit changes code/message in the action form; it is not reported
    # as a field, so the caller must print its own result line (design note 14).
    message = f"Enable succeeded: \n[stdout]\n{_truncate(stdout)}\n[stderr]\n{_truncate(stderr)}"
    return {"value": [{"code": "ProvisioningState/succeeded", "level": "Info",
                       "displayStatus": "Provisioning succeeded", "message": message}]}


class ScaleSetInstance(Kind):
    type = VM
    api_versions = COMPUTE_API_VERSIONS
    managed_message = None

    def put(self, arm: Arm, rid: str, body: Any, headers: dict[str, str], patch: bool = False) -> Response:
        raise bad_request("OperationNotAllowed", "Scale set instances are changed through the scale set model.")

    def decorate(self, arm: Arm, view: dict[str, Any]) -> None:
        vmss = arm.get_doc(view["id"].rsplit("/virtualMachines/", 1)[0])
        inst = arm.get_doc(view["id"])
        view["properties"]["latestModelApplied"] = bool(vmss and inst and inst.get("_modelVersion") == vmss.get("_modelVersion"))

    def check_delete(self, arm: Arm, doc: dict[str, Any]) -> None:
        pass

    def delete(self, arm: Arm, rid: str, headers: dict[str, str]) -> Response:
        inst = arm.get_doc(rid)
        if inst is None:
            return Response(204)
        vmss = arm.get_doc(rid.rsplit("/virtualMachines/", 1)[0])
        assert vmss is not None
        inst["properties"]["provisioningState"] = "Deleting"
        released = release_instance(arm, vmss["id"], inst["instanceId"])

        def finish() -> None:
            delete_instance(arm, vmss, inst, release=False)
            vmss["sku"]["capacity"] = max(0, vmss["sku"]["capacity"] - 1)

        op = arm.start_operation(inst["id"], VM, "delete", inst["location"], finish=finish, future=released)
        return Response(202, None, arm.lro_headers(op))

    def _run_command(self, arm: Arm, inst: dict[str, Any], body: dict[str, Any]) -> Response:
        running = arm.operations.get(inst.get("_runCommandOp") or "")
        if running is not None and running.status == "InProgress":
            # One run command at a time per VM (run-command.md "Restrictions").
            raise ArmError(409, "Conflict", "Run command extension execution is in progress. Please wait for "
                           "completion before invoking a run command.")
        if body.get("commandId") != "RunShellScript":
            raise bad_request("InvalidParameter", f"Command id {body.get('commandId')!r} is not supported on Linux here "
                              "(use RunShellScript).")
        script = [str(line) for line in body.get("script") or []]
        params = {str(p.get("name")): str(p.get("value")) for p in body.get("parameters") or []}
        vmss_id, iid = inst["id"].rsplit("/virtualMachines/", 1)
        # after the instance's earlier executor work (its boot), outside the store lock
        future = instance_task(arm, vmss_id, iid, arm.executor.run_command, vmss_id, iid, script, params)
        op = arm.start_operation(inst["id"], VM, "post", inst["location"], finish=lambda: _run_result(future), future=future)
        inst["_runCommandOp"] = op.id
        return Response(202, None, arm.lro_headers(op))

    def _reimage(self, arm: Arm, inst: dict[str, Any], body: dict[str, Any]) -> Response:
        vmss = arm.get_doc(inst["id"].rsplit("/virtualMachines/", 1)[0])
        assert vmss is not None
        future, finish_one = start_reimage(arm, vmss, inst)

        def finish() -> None:
            finish_one()
            raise_failures([future])

        op = arm.start_operation(inst["id"], VM, "post", inst["location"], finish=finish, future=future)
        return Response(202, None, arm.lro_headers(op))

    actions = {
        "runcommand": lambda kind, arm, doc, body: kind._run_command(arm, doc, body),
        "reimage": lambda kind, arm, doc, body: kind._reimage(arm, doc, body),
    }


# --- managed run commands ---------------------------------------------------------------------------------


@dataclass
class Execution:
    """One run of a managed run command's script on its instance.

    `future` is the executor call (queued behind the instance's earlier executor work, outside the store
    lock); `started` is set when it begins. `final` is the terminal instance view once known: the script's
    end, its timeout, or a cancel (delete); a result arriving after a timeout or a cancel is dropped. The
    emulator cannot interrupt an executor call, so a timed-out or cancelled script may go on running in its
    thread (Azure's agent kills it); nothing it returns is reported."""

    future: Future[tuple[int, str, str]]
    timeout: float | None
    started: list[float] = field(default_factory=list)  # monotonic start, set by the task
    started_at: str | None = None
    final: dict[str, Any] | None = None
    settled: Future[None] = field(default_factory=Future)  # done when provisioning may complete
    async_execution: bool = False

    def instance_view(self, now: float) -> dict[str, Any]:
        if self.final is None:
            self._advance(now)
        if self.final is not None:
            return self.final
        if not self.started:
            return {"executionState": "Pending", "statuses": []}
        return {"executionState": "Running", "startTime": self.started_at, "statuses": []}

    def _advance(self, now: float) -> None:
        if self.future.done():
            exc = self.future.exception()
            if exc is not None:
                self._finish("Failed", None, "", str(exc), f"Run command extension failed: {exc}")
            else:
                code, stdout, stderr = self.future.result()
                self._finish("Succeeded" if code == 0 else "Failed", code, stdout, stderr, "")
        elif self.started and self.timeout and now - self.started[0] >= self.timeout:
            # UNCONFIRMED wording; the state is the documented `TimedOut`.
            self._finish("TimedOut", None, "", "", f"Execution timed out after {self.timeout:g} seconds.")

    def _finish(self, state: str, code: int | None, stdout: str, stderr: str, message: str) -> None:
        view: dict[str, Any] = {"executionState": state, "executionMessage": message, "output": _truncate(stdout),
                                "error": _truncate(stderr), "startTime": self.started_at or utcnow(),
                                "endTime": utcnow(), "statuses": []}
        if code is not None:
            view["exitCode"] = code
        self.final = view
        self.settle()

    def cancel(self) -> None:
        if self.final is None:
            self.final = {"executionState": "Canceled", "executionMessage": "Execution was canceled.",
                          "startTime": self.started_at or utcnow(), "endTime": utcnow(), "statuses": []}
        self.settle()

    def settle(self) -> None:
        if not self.settled.done():
            self.settled.set_result(None)


def run_commands_of(arm: Arm, instance_id: str) -> list[dict[str, Any]]:
    prefix = lower(instance_id) + "/runcommands/"
    return [d for k, d in arm.resources.items() if k.startswith(prefix) and d["type"] == RUN_COMMAND]


def _instance_of(child_id: str) -> str:
    """The parent of a child resource id (a run command's instance, an instance's scale set)."""
    parsed = ResourceId.parse(child_id)
    assert parsed is not None and parsed.parent is not None
    return parsed.parent


def cancel_execution(arm: Arm, command_id: str) -> None:
    execution = arm.run_executions.pop(lower(command_id), None)
    if execution is not None:
        execution.cancel()


def _command_content(props: dict[str, Any]) -> str:
    """What makes a PUT a new execution: the script and everything it is run with."""
    keys = ("source", "parameters", "protectedParameters", "runAsUser", "runAsPassword", "timeoutInSeconds")
    return hashlib.sha256(json.dumps({k: props.get(k) for k in keys}, sort_keys=True).encode()).hexdigest()


def _parameters(items: Any, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not isinstance(item.get("value"), str):
            raise bad_request("InvalidParameter", f"Each of {what} needs a name and a string value.")  # UNCONFIRMED
        out[name] = item["value"]
    return out


class RunCommand(Kind):
    """`virtualMachineScaleSets/{vmss}/virtualMachines/{id}/runCommands/{name}`: a managed run command
    (https://learn.microsoft.com/azure/virtual-machines/linux/run-command-managed).

    - PUT delivers `properties.source.script` with `parameters` (on Linux, named parameters are set as
      environment variables; `protectedParameters` too, never returned) and runs it through the
      `InstanceExecutor`, after the instance's earlier executor work (the emulator runs one instance's
      commands one after the other; Azure may run them in parallel).
    - `instanceView` (only with `$expand=instanceView`): `executionState` Pending -> Running -> Succeeded
      (exit code 0) / Failed (non-zero, or the executor raised) / TimedOut (`timeoutInSeconds` passed
      since the start; 0 or absent: no limit, UNCONFIRMED default) / Canceled; `exitCode`; `output` and
      `error` keep the last 4 KB ("Output and error fields in instanceView is limited to last 4KB").
    - Provisioning (the PUT's LRO) completes when the script ends, or as soon as it starts with
      `asyncExecution`; with `treatFailureAsDeploymentFailure` a script that did not succeed fails it.
    - A PUT that changes nothing the script runs with does not run it again ("if you deploy twice and do
      not change the script content it will not re-execute", Azure/bicep#10422; MicrosoftDocs/azure-compute-
      docs#178); a changed one starts a new execution.
    - DELETE ends a running execution ("If the script execution is still in progress, execution will be
      terminated") and removes the resource.
    - At most 25 per VM; the 26th is refused with Azure's message (MicrosoftDocs/azure-docs#117976).
    """

    type = RUN_COMMAND
    api_versions = COMPUTE_API_VERSIONS
    creating_state = "Creating"
    read_only = ("instanceView",)
    has_etag = False

    def validate(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        props = doc["properties"]
        source = props.get("source") or {}
        given = [k for k in ("script", "scriptUri", "commandId") if source.get(k)]
        if len(given) != 1:
            raise bad_request("InvalidParameter",  # UNCONFIRMED code
                              "Exactly one of source.script, source.scriptUri and source.commandId is required.")
        if given[0] != "script":
            raise bad_request("InvalidParameter",  # an emulator limit, not Azure's
                              f"The emulator runs inline scripts only (source.script), not source.{given[0]}.")
        timeout = props.get("timeoutInSeconds", 0)
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 0:
            raise bad_request("InvalidParameter", f"timeoutInSeconds {timeout!r} must be a whole number >= 0.")
        _parameters(props.get("parameters"), "parameters")
        _parameters(props.get("protectedParameters"), "protectedParameters")
        instance_id = _instance_of(doc["id"])
        if old is None and len(run_commands_of(arm, instance_id)) >= MANAGED_RUN_COMMANDS_PER_VM:
            current = len(run_commands_of(arm, instance_id))
            raise ArmError(409, "OperationNotAllowed",  # UNCONFIRMED code and status; Azure's message
                           f"The maximum number of managed Run commands (max={MANAGED_RUN_COMMANDS_PER_VM}, "
                           f"current={current}) has been exceeded. Use fewer Run commands and retry the request.")
        doc["_content"] = _command_content(props)
        doc["_instance"] = instance_id

    def put(self, arm: Arm, rid: str, body: Any, headers: dict[str, str], patch: bool = False) -> Response:
        old = arm.get_doc(rid)
        old_content = (old or {}).get("_content")
        old_view = (old or {}).get("_final")
        created, doc = self.write(arm, rid, body, headers, patch)
        execution = arm.run_executions.get(lower(rid))
        if execution is not None and old_content == doc["_content"]:
            # Nothing the script runs with changed: no new execution.
            settled: Future[Any] | None = execution.settled
            doc["_final"] = old_view
        else:
            cancel_execution(arm, rid)
            doc.pop("_final", None)
            settled = self._start(arm, doc).settled
        op = arm.start_operation(doc["id"], self.type, "put", doc["location"],
                                 finish=lambda: self._provisioned(arm, doc), future=settled)
        return Response(201 if created else 200, self.view(arm, doc), arm.lro_headers(op))

    def _start(self, arm: Arm, doc: dict[str, Any]) -> Execution:
        props = doc["properties"]
        params = {**_parameters(props.get("parameters"), "parameters"),
                  **_parameters(props.get("protectedParameters"), "protectedParameters")}
        script = str(props["source"]["script"]).splitlines()
        vmss_id = _instance_of(doc["_instance"])
        iid = ResourceId.parse(doc["_instance"]).name  # type: ignore[union-attr]
        timeout = props.get("timeoutInSeconds") or None
        execution = Execution(Future(), float(timeout) if timeout else None,
                              async_execution=bool(props.get("asyncExecution")))

        def run() -> tuple[int, str, str]:
            execution.started_at = utcnow()
            execution.started.append(time.monotonic())
            if execution.async_execution:
                execution.settle()
            result = arm.executor.run_command(vmss_id, iid, script, params)
            # Azure's agent takes its time whatever the script does (`Arm.run_command_seconds`).
            rest = arm.run_command_seconds - (time.monotonic() - execution.started[0])
            if rest > 0:
                time.sleep(rest)
            return result

        execution.future = instance_task(arm, vmss_id, iid, run)
        execution.future.add_done_callback(lambda _: execution.settle())
        arm.run_executions[lower(doc["id"])] = execution
        return execution

    def _provisioned(self, arm: Arm, doc: dict[str, Any]) -> None:
        execution = arm.run_executions.get(lower(doc["id"]))
        view = execution.instance_view(arm.clock()) if execution is not None else doc.get("_final") or {}
        if execution is not None and execution.final is not None:
            doc["_final"] = execution.final
        failed = view.get("executionState") not in ("Succeeded", "Pending", "Running")
        if failed and doc["properties"].get("treatFailureAsDeploymentFailure"):
            doc["properties"]["provisioningState"] = "Failed"
            raise ArmError(400, "VMExtensionProvisioningError",  # UNCONFIRMED code
                           f"Run command {doc['name']} ended {view.get('executionState')}: "
                           f"{view.get('executionMessage') or view.get('error') or ''}".strip())

    def start_delete(self, arm: Arm, doc: dict[str, Any]) -> Future[Any] | None:
        cancel_execution(arm, doc["id"])
        return None

    def decorate(self, arm: Arm, view: dict[str, Any]) -> None:
        props = view["properties"]
        props.pop("protectedParameters", None)  # secrets are not returned
        props.pop("runAsPassword", None)
        if (arm.expand or "").lower() != "instanceview":
            return
        execution = arm.run_executions.get(lower(view["id"]))
        doc = arm.get_doc(view["id"])
        if execution is not None:
            props["instanceView"] = execution.instance_view(arm.clock())
            if execution.final is not None and doc is not None:
                doc["_final"] = execution.final
        else:  # known from before an emulator restart, or never
            props["instanceView"] = (doc or {}).get("_final") or {"executionState": "Unknown", "statuses": []}


def advance_run_commands(arm: Arm, now: float) -> bool:
    """Tick hook: executions that timed out settle (so their PUT's operation completes)."""
    for execution in arm.run_executions.values():
        if execution.final is None:
            execution.instance_view(now)
    return False


def register(arm: Arm) -> None:
    arm.register(VirtualMachineScaleSet(), ScaleSetInstance(), RunCommand())
    arm.tick_hooks.append(advance_run_commands)


__all__ = ["ResourceId", "register"]
