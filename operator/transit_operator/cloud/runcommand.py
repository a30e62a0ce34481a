"""Push a rendered `haproxy.cfg` to live VMSS instances with managed run commands, one step per pass.

Why run commands: the VMSS model's customData only reaches instances created (or reimaged) after it
changed (docs/platform-rules.md#run-command), so the instances that already run get the config this way. The
apply script (`plan.haproxy_config.render_apply_script`) goes with every command; the config travels only
as the parameters `CONFIG_B64` and `CONFIG_HASH` (on Linux, named parameters are environment variables:
learn.microsoft.com/azure/virtual-machines/linux/run-command-managed), and the script prints one result
line that `parse_apply_result` reads back. It is a no-op when the hash already matches.

Why managed run commands (`.../virtualMachines/{id}/runCommands/{name}`, a child resource) and not the
action `runCommand` (docs/platform-rules.md#run-command): the instance view reports `executionState` and `exitCode`, a
command has a `timeoutInSeconds`, deleting it ends a running script, and commands do not serialise on an
instance (the action form answers 409 while another runs, for up to 90 minutes when one hangs).

Nothing blocks. `advance` is one step of the rollout, for the instances whose applied hash (in status) is
not the desired one; the next pass takes the next step:

    observe   list the instance's run commands with their instance view (one GET per instance)
    read      a finished one of ours (`transit-apply-...`) gives the instance's result; it is then deleted
              (clean-up: Azure allows 25 managed run commands per VM) - except one that ended badly,
              kept (and reported every pass) until a back-off has passed since its end; then it is
              deleted and the next pass starts a new one
    cancel    one still running for another config (the desired one changed meanwhile) is deleted, which
              ends its script
    start     an instance with none running for the desired config gets a new one (PUT, not awaited), as
              long as fewer than `concurrency` run at once over the scale set

Every execution gets a fresh name (`transit-apply-<hash>-<random>`): Azure does not run a command again
under the same name unless its content changed, and on Linux deleting one and creating it again under the
same name may not run it either (MicrosoftDocs/azure-compute-docs#178). What is in flight lives in Azure,
not in memory or status: a restarted operator lists the commands and goes on.

Per instance and config, a rollout costs one PUT and one DELETE, plus one GET per pass while it runs.
Errors never leave as exceptions per instance: each instance gets an `InstanceApply` with what happened.
Only listing the instances may raise (and is classified by the caller through `cloud.errors`).
"""

from __future__ import annotations

import base64
import contextlib
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from transit_operator.api.errors import TransitError
from transit_operator.cloud.context import CloudContext
from transit_operator.cloud.errors import SDK_ERRORS, classify, sdk_errors
from transit_operator.plan.haproxy_config import config_hash, parse_apply_result, render_apply_script
from transit_operator.plan.ids import parse_resource_id

__all__ = [
    "APPLY_TIMEOUT_SECONDS",
    "COMMAND_PREFIX",
    "READ_PREFIX",
    "ApplyState",
    "InstanceApply",
    "InstanceOutput",
    "ScaleSet",
    "advance",
    "build_run_command",
    "list_instance_ids",
]

ApplyState = Literal[
    "applied", "unchanged", "invalid", "failed", "unknown", "timedout", "canceled", "error", "running", "waiting"
]

# States after which the instance runs the desired config.
OK_STATES = frozenset({"applied", "unchanged"})
# States of an instance whose command is under way or not started yet (as opposed to one that ended badly).
UNDER_WAY = frozenset({"running", "waiting"})

# Names of the run commands this module owns on an instance; anything else there is left alone.
COMMAND_PREFIX = "transit-apply-"
# A read-only script (the backend health read-back) runs as a managed run command of this prefix, waited
# for, read and deleted; `advance` leaves it alone. It answers in seconds: one that has not is stuck.
READ_PREFIX = "transit-read-"
READ_TIMEOUT_SECONDS = 60
# `timeoutInSeconds` of a command: the apply script checks, swaps and reloads in seconds; a script still
# running after this is stuck (Azure reports it `TimedOut` and ends it).
APPLY_TIMEOUT_SECONDS = 300
# At most this many instances are observed or changed at once in one pass (ARM calls, not commands).
_CALLS_IN_PARALLEL = 8
# What one instance's calls may fail with (anything else is a bug and propagates).
_INSTANCE_ERRORS: tuple[type[BaseException], ...] = (TransitError, *SDK_ERRORS)
# Run-command output we keep in a status message (the result line's detail is already short).
_MAX_ERROR = 300
_RUNNING = frozenset({"pending", "running"})


@dataclass(frozen=True)
class InstanceApply:
    """What one instance's rollout stands at after this pass.

    state: applied/unchanged (it runs `config_hash` now), invalid (the script refused the input, e.g.
    `haproxy -c` failed: the old config stays), failed (reload failed, rolled back), unknown (the command
    ended without a result line for this config), timedout/canceled (Azure ended the command), error (an ARM
    call failed: `error` has Azure's code), running (a command for this config is under way), waiting (not
    started: `concurrency` commands already run).
    """

    instance_id: str
    state: ApplyState
    config_hash: str
    error: str | None = None
    command: str | None = None  # the run command this state comes from

    @property
    def ok(self) -> bool:
        return self.state in OK_STATES


@dataclass(frozen=True)
class _Command:
    """One of our run commands on an instance, as listed."""

    name: str
    config_hash: str | None
    execution_state: str  # lower-cased instanceView.executionState ("" when absent)
    exit_code: int | None
    output: str
    error: str
    message: str
    ended_at: datetime | None
    deleting: bool  # a DELETE is under way (ours from an earlier pass)

    @property
    def running(self) -> bool:
        return self.execution_state in _RUNNING or not self.execution_state


def list_instance_ids(compute: Any, resource_group: str, vmss_name: str) -> list[str]:
    """Instance ids of a Uniform VMSS ("0", "1", ...), numerically sorted. One paged GET. SDK errors leave
    as `cloud.errors.CloudError`."""
    with sdk_errors():
        ids = [vm.instance_id for vm in compute.virtual_machine_scale_set_vms.list(resource_group, vmss_name)]
    return sorted((str(i) for i in ids if i is not None), key=lambda i: (len(i), i))


@dataclass(frozen=True)
class ScaleSet:
    """One scale set, from its resource id: its instances and the config rollout on them."""

    compute: Any  # azure.mgmt.compute.ComputeManagementClient
    resource_group: str
    name: str

    @classmethod
    def of(cls, ctx: CloudContext, vmss_id: str) -> ScaleSet:
        parsed = parse_resource_id(vmss_id)
        return cls(ctx.compute(parsed.subscription_id), parsed.resource_group, parsed.name)

    def instance_ids(self) -> list[str]:
        return list_instance_ids(self.compute, self.resource_group, self.name)

    def advance(self, instance_ids: Sequence[str], **options: Any) -> dict[str, InstanceApply]:
        """`advance` on this scale set's instances."""
        return advance(self.compute, self.resource_group, self.name, instance_ids, **options)

    def read(self, instance_ids: Sequence[str], script: Sequence[str], *, location: str,
             timeout: float = READ_TIMEOUT_SECONDS) -> dict[str, InstanceOutput]:
        """`run_read_only` on this scale set's instances."""
        return run_read_only(self.compute, self.resource_group, self.name, instance_ids, script,
                             location=location, timeout=timeout)


@dataclass(frozen=True)
class InstanceOutput:
    """What a read-only script printed on one instance, or why there is nothing (`error`)."""

    instance_id: str
    exit_code: int | None
    output: str
    error: str | None = None


def run_read_only(
    compute: Any,
    resource_group: str,
    vmss_name: str,
    instance_ids: Sequence[str],
    script: Sequence[str],
    *,
    location: str,
    timeout: float = READ_TIMEOUT_SECONDS,
) -> dict[str, InstanceOutput]:
    """Run a read-only `script` (no parameters) on every instance at once as a managed run command, wait for
    each (at most `timeout` seconds: Azure ends it then too), read its output from the instance view, and
    delete it (not awaited). Blocks: for on-demand reads (a diagnosis), never inside a reconcile pass's
    rollout. Errors stay per instance."""
    ops = compute.virtual_machine_scale_set_vm_run_commands
    body = {
        "location": location,
        "properties": {
            "source": {"script": "\n".join(script) + "\n"},
            "timeoutInSeconds": int(timeout),
            "asyncExecution": False,
            "treatFailureAsDeploymentFailure": False,
        },
    }

    def one(instance_id: str) -> InstanceOutput:
        name = f"{READ_PREFIX}{secrets.token_hex(4)}"
        try:
            ops.begin_create_or_update(resource_group, vmss_name, instance_id, name, body).result(timeout=timeout + 30)
            got = ops.get(resource_group, vmss_name, instance_id, name, expand="instanceView")
            view = (got.as_dict() if hasattr(got, "as_dict") else dict(got)).get("properties", {}).get("instanceView") or {}
            state = str(view.get("executionState") or "")
            code = view.get("exitCode")
            if state.lower() in ("timedout", "canceled", "failed") and not view.get("output"):
                error = view.get("executionMessage") or view.get("error") or f"the run command {state}"
                return InstanceOutput(instance_id, code if isinstance(code, int) else None, "", _short(str(error)))
            return InstanceOutput(instance_id, code if isinstance(code, int) else None, str(view.get("output") or ""))
        except _INSTANCE_ERRORS as exc:
            return InstanceOutput(instance_id, None, "", _error_of(exc))
        except TimeoutError:
            return InstanceOutput(instance_id, None, "", f"no answer within {timeout:g} s")
        finally:
            with contextlib.suppress(*_INSTANCE_ERRORS):
                ops.begin_delete(resource_group, vmss_name, instance_id, name, polling=False)

    if not instance_ids:
        return {}
    workers = max(1, min(_CALLS_IN_PARALLEL, len(instance_ids)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="run-command-read") as pool:
        return {out.instance_id: out for out in pool.map(one, instance_ids)}


def build_run_command(config: str, location: str, script: Sequence[str] | None = None) -> dict[str, Any]:
    """The `VirtualMachineRunCommand` body (REST-shaped) that applies `config`."""
    return {
        "location": location,
        "properties": {
            "source": {"script": "\n".join(script if script is not None else render_apply_script()) + "\n"},
            "parameters": [
                {"name": "CONFIG_B64", "value": base64.b64encode(config.encode("utf-8")).decode("ascii")},
                {"name": "CONFIG_HASH", "value": config_hash(config)},
            ],
            "timeoutInSeconds": APPLY_TIMEOUT_SECONDS,
            "asyncExecution": False,
            "treatFailureAsDeploymentFailure": False,
        },
    }


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 3] + "..."


def _error_of(exc: BaseException) -> str:
    classified = classify(exc)
    return f"{classified.code}: {_short(classified.message)}"


def _command_of(item: Any) -> _Command | None:
    """Ours (by name) from a listed `VirtualMachineRunCommand`, else None."""
    body = item.as_dict() if hasattr(item, "as_dict") else dict(item)
    name = str(body.get("name") or "")
    if not name.startswith(COMMAND_PREFIX):
        return None
    props = body.get("properties") or {}
    params = {p.get("name"): p.get("value") for p in props.get("parameters") or [] if isinstance(p, dict)}
    view = props.get("instanceView") or {}
    code = view.get("exitCode")
    return _Command(
        name=name,
        config_hash=params.get("CONFIG_HASH"),
        execution_state=str(view.get("executionState") or "").lower(),
        exit_code=code if isinstance(code, int) else None,
        output=str(view.get("output") or ""),
        error=str(view.get("error") or ""),
        message=str(view.get("executionMessage") or ""),
        ended_at=_datetime(view.get("endTime")),
        deleting=str(props.get("provisioningState") or "").lower() == "deleting",
    )


def _datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _result(instance_id: str, command: _Command) -> InstanceApply:
    """The instance's state from a finished command."""
    digest = command.config_hash or ""
    if command.execution_state in ("timedout", "canceled"):
        state: ApplyState = "timedout" if command.execution_state == "timedout" else "canceled"
        detail = command.message or f"the run command was {command.execution_state}"
        return InstanceApply(instance_id, state, digest, _short(detail), command.name)
    parsed = parse_apply_result(command.output)
    if parsed.result != "unknown" and parsed.hash not in (None, digest):
        # The script echoes the hash it was given; anything else is not this command's answer.
        return InstanceApply(instance_id, "unknown", digest, f"result line for another hash {parsed.hash}", command.name)
    if parsed.ok and command.exit_code not in (0, None):
        detail = f"exit code {command.exit_code} with result {parsed.result}: {command.error}"
        return InstanceApply(instance_id, "failed", digest, _short(detail), command.name)
    if parsed.ok:
        return InstanceApply(instance_id, parsed.result, digest, None, command.name)
    detail = parsed.detail or command.error or command.message
    if command.exit_code is not None:
        detail = f"exit code {command.exit_code}: {detail}"
    return InstanceApply(instance_id, parsed.result, digest, _short(detail) or parsed.result, command.name)


@dataclass
class _Seen:
    """One instance after the observe step, and what this pass makes of it."""

    instance_id: str
    current: _Command | None = None  # running for the desired config
    outcome: InstanceApply | None = None  # from a finished command for the desired config
    delete: list[str] = field(default_factory=list)  # finished ones read, or running for another config
    error: str | None = None

    @property
    def wants_start(self) -> bool:
        return self.current is None and self.outcome is None and self.error is None


def _ended_before(command: _Command, seconds: float, now: datetime) -> bool:
    return command.ended_at is None or (now - command.ended_at).total_seconds() >= seconds


def advance(
    compute: Any,
    resource_group: str,
    vmss_name: str,
    instance_ids: Sequence[str],
    *,
    config: str,
    location: str,
    concurrency: int,
    retry_after: float,
    name_suffix: Callable[[], str] = lambda: secrets.token_hex(3),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, InstanceApply]:
    """One step of the rollout of `config` to `instance_ids` (those not known to run it). Returns one
    `InstanceApply` per id; see the module docstring for the steps. A command for this config that ended
    badly stays on the instance (its result is reported every pass) until `retry_after` seconds after its
    end; the pass after that cleans it up, and the next one starts a new command."""
    if not instance_ids:
        return {}
    digest = config_hash(config)
    ops = compute.virtual_machine_scale_set_vm_run_commands
    body = build_run_command(config, location)

    def observe(instance_id: str) -> _Seen:
        seen = _Seen(instance_id)
        try:
            listed = ops.list(resource_group, vmss_name, instance_id, expand="instanceView")
            commands = [c for c in (_command_of(item) for item in listed) if c is not None]
        except _INSTANCE_ERRORS as exc:  # this instance only; retried next pass
            seen.error = _error_of(exc)
            return seen
        for command in commands:
            if command.deleting:
                continue  # read and cleaned up by an earlier pass
            if command.running:
                if command.config_hash == digest and seen.current is None:
                    seen.current = command
                else:
                    seen.delete.append(command.name)  # ends a script for a config no longer wanted
                continue
            result = _result(instance_id, command)
            if command.config_hash == digest and (seen.outcome is None or not seen.outcome.ok):
                seen.outcome = result  # reported this pass; a failure also keeps a new one from starting
            if command.config_hash == digest and not result.ok and not _ended_before(command, retry_after, now()):
                continue  # kept: the refusal stays visible and is not retried before `retry_after`
            seen.delete.append(command.name)
        if seen.outcome is not None and not seen.outcome.ok and seen.current is not None:
            seen.outcome = None  # a newer command for this config is under way
        return seen

    def step(seen: _Seen, may_start: bool) -> InstanceApply:
        iid = seen.instance_id
        for name in seen.delete:
            # clean-up only: a failed delete is retried by the next rollout, which lists the commands again
            with contextlib.suppress(*_INSTANCE_ERRORS):
                ops.begin_delete(resource_group, vmss_name, iid, name, polling=False)
        if seen.error is not None:
            return InstanceApply(iid, "error", digest, seen.error)
        if seen.outcome is not None:
            return seen.outcome
        if seen.current is not None:
            return InstanceApply(iid, "running", digest, None, seen.current.name)
        if not may_start:
            return InstanceApply(iid, "waiting", digest, f"waits for a free slot ({concurrency} at once)")
        name = f"{COMMAND_PREFIX}{digest}-{name_suffix()}"
        try:
            ops.begin_create_or_update(resource_group, vmss_name, iid, name, body, polling=False)
        except _INSTANCE_ERRORS as exc:
            return InstanceApply(iid, "error", digest, _error_of(exc))
        return InstanceApply(iid, "running", digest, None, name)

    workers = max(1, min(_CALLS_IN_PARALLEL, len(instance_ids)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="run-command") as pool:
        observed = list(pool.map(observe, instance_ids))
        slots = max(0, concurrency - sum(1 for seen in observed if seen.current is not None))
        allowed: list[bool] = []
        for seen in observed:
            allowed.append(seen.wants_start and slots > 0)
            slots -= 1 if allowed[-1] else 0
        results = list(pool.map(step, observed, allowed))
    return {r.instance_id: r for r in results}
