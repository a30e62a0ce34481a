"""What runs "inside" an emulated VMSS instance.

The ARM emulator owns the control plane of a scale set (model, instances, NICs, run-command LROs); what an
instance *does* is delegated to an `InstanceExecutor`. The default one only records the calls; the data
plane (`dataplane.py`) plugs in one that runs each instance as a network namespace with real HAProxy.

Calls arrive from the emulator's worker threads: `instance_created` when an instance is created or
reimaged (with its decoded customData, i.e. what cloud-init would get on first boot), `instance_deleted`
when it goes away (also before a reimage), and `run_command` for the `runCommand` action, which must
return `(exit_code, stdout, stderr)`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol


class InstanceExecutor(Protocol):
    def instance_created(self, vmss_id: str, instance_id: str, custom_data: bytes | None) -> None: ...

    def instance_deleted(self, vmss_id: str, instance_id: str) -> None: ...

    def run_command(
        self, vmss_id: str, instance_id: str, script: list[str], parameters: dict[str, str]
    ) -> tuple[int, str, str]: ...


@dataclass
class RecordedCommand:
    vmss_id: str
    instance_id: str
    script: list[str]
    parameters: dict[str, str]


@dataclass
class RecordingExecutor:
    """Remembers what each instance was given; `run_command` answers `result` (default `(0, "", "")`).

    `instances` maps `(vmss_id lower-cased, instance_id)` to the customData the live instance booted with.
    """

    result: tuple[int, str, str] = (0, "", "")
    instances: dict[tuple[str, str], bytes | None] = field(default_factory=dict)
    commands: list[RecordedCommand] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def instance_created(self, vmss_id: str, instance_id: str, custom_data: bytes | None) -> None:
        with self._lock:
            self.instances[(vmss_id.lower(), instance_id)] = custom_data
            self.events.append(("created", vmss_id, instance_id))

    def instance_deleted(self, vmss_id: str, instance_id: str) -> None:
        with self._lock:
            self.instances.pop((vmss_id.lower(), instance_id), None)
            self.events.append(("deleted", vmss_id, instance_id))

    def run_command(
        self, vmss_id: str, instance_id: str, script: list[str], parameters: dict[str, str]
    ) -> tuple[int, str, str]:
        with self._lock:
            self.commands.append(RecordedCommand(vmss_id, instance_id, list(script), dict(parameters)))
        return self.result
