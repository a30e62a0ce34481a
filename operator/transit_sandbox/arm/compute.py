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
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
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
OUTPUT_LIMIT = 4096
CUSTOM_DATA_LIMIT = 65535


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
    """Remove an instance and its NICs from the store; with `release`, its executor teardown starts (outside
    the lock) and is returned."""
    future = release_instance(arm, vmss["id"], inst["instanceId"]) if release else None
    for nic in inst["properties"]["networkProfile"]["networkInterfaces"]:
        arm.resources.pop(lower(nic["id"]), None)
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


def register(arm: Arm) -> None:
    arm.register(VirtualMachineScaleSet(), ScaleSetInstance())


__all__ = ["ResourceId", "register"]
