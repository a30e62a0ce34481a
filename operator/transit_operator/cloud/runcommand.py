"""Push a rendered `haproxy.cfg` to live VMSS instances with action run-command, a bounded fan-out.

Why run-command: the VMSS model's customData only reaches instances created (or reimaged) after it
changed (transit.md, platform rule 11), so the instances that already run get the config this way. The
script (`plan.haproxy_config.render_apply_script`) is sent with every call; the config travels only as
the parameters `CONFIG_B64` and `CONFIG_HASH` (Azure exposes them as environment variables), and the
script prints one result line that `parse_apply_result` reads back (action run-command has no exit code
and keeps only the last 4 KB of output, platform rule 14). It is a no-op when the hash already matches.

Concurrency and time:

- Azure runs one command at a time per instance; a second one answers 409 Conflict. We never send two
  to one instance in a pass, and a 409 (someone else's command, or ours from an earlier pass still
  running) is retryable *for that instance only*.
- At most `concurrency` commands are in flight (`spec.haproxy.runCommandConcurrency`): a thread pool of
  that size, each thread starting one command and polling its LRO.
- This blocks the caller while commands run: seconds in the sandbox, ~20 s to minutes in Azure (the
  documented minimum is about 20 s per command). A reconcile pass is a kopf worker thread; holding it for
  the whole fleet would starve other objects, so `deadline_seconds` caps a pass: commands not started by
  then are not started, and a command still running at the deadline is reported `pending` (its poller is
  abandoned; the command itself finishes on the instance, and the next pass either finds the hash applied
  - the script is then a no-op - or gets a 409 while it still runs). The trade-off: bounded worker time
  against a rollout spread over several passes for big fleets.

Errors never leave as exceptions per instance: each instance gets an `InstanceApply` with what happened.
Only listing the instances may raise (and is classified by the caller through `cloud.errors`).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from azure.core.exceptions import HttpResponseError

from transit_operator.api.errors import TransitError
from transit_operator.cloud.errors import SDK_ERRORS, classify, sdk_errors
from transit_operator.plan.haproxy_config import config_hash, parse_apply_result, render_apply_script

__all__ = [
    "ApplyState",
    "InstanceApply",
    "apply_config",
    "build_run_command_input",
    "list_instance_ids",
]

ApplyState = Literal[
    "applied", "unchanged", "invalid", "failed", "unknown", "busy", "pending", "error", "skipped"
]

# States after which the instance runs the desired config.
OK_STATES = frozenset({"applied", "unchanged"})
# States worth trying again on the next pass (as opposed to a config the instance refused).
RETRY_STATES = frozenset({"busy", "pending", "error", "skipped", "unknown", "failed"})

# What one instance's command may fail with (anything else is a bug and propagates).
_INSTANCE_ERRORS: tuple[type[BaseException], ...] = (TransitError, *SDK_ERRORS)

# Run-command output we keep in a status message (the result line's detail is already short).
_MAX_ERROR = 300


@dataclass(frozen=True)
class InstanceApply:
    """What one instance did with the config in this pass.

    state: applied/unchanged (it runs `config_hash` now), invalid (the script refused the input, e.g.
    `haproxy -c` failed: the old config stays), failed (reload failed, rolled back), unknown (no result
    line in the output), busy (409: another command runs there), pending (still running at the deadline),
    error (the call itself failed: `error` has Azure's code), skipped (not started before the deadline).
    """

    instance_id: str
    state: ApplyState
    config_hash: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.state in OK_STATES


def list_instance_ids(compute: Any, resource_group: str, vmss_name: str) -> list[str]:
    """Instance ids of a Uniform VMSS ("0", "1", ...), numerically sorted. One paged GET. SDK errors leave
    as `cloud.errors.CloudError`."""
    with sdk_errors():
        ids = [vm.instance_id for vm in compute.virtual_machine_scale_set_vms.list(resource_group, vmss_name)]
    return sorted((str(i) for i in ids if i is not None), key=lambda i: (len(i), i))


def build_run_command_input(config: str, script: Sequence[str] | None = None) -> dict[str, Any]:
    """The `RunCommandInput` body (REST-shaped) that applies `config`."""
    return {
        "commandId": "RunShellScript",
        "script": list(script if script is not None else render_apply_script()),
        "parameters": [
            {"name": "CONFIG_B64", "value": base64.b64encode(config.encode("utf-8")).decode("ascii")},
            {"name": "CONFIG_HASH", "value": config_hash(config)},
        ],
    }


def _output_of(result: Any) -> str:
    """stdout/stderr text of a RunCommandResult: the `message` of each `value[]` status, joined."""
    values = getattr(result, "value", None) or []
    return "\n".join(str(getattr(status, "message", "") or "") for status in values)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 3] + "..."


def apply_config(
    compute: Any,
    resource_group: str,
    vmss_name: str,
    instance_ids: Sequence[str],
    *,
    config: str,
    concurrency: int,
    deadline_seconds: float,
    polling_interval: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, InstanceApply]:
    """Run the apply script with `config` on each of `instance_ids`, at most `concurrency` at a time,
    one command per instance, for at most `deadline_seconds`. Returns one `InstanceApply` per id."""
    digest = config_hash(config)
    body = build_run_command_input(config)
    deadline = clock() + deadline_seconds

    def run(instance_id: str) -> InstanceApply:
        remaining = deadline - clock()
        if remaining <= 0:
            return InstanceApply(
                instance_id, "skipped", digest, "not started: the pass reached its time limit"
            )
        try:
            poller = compute.virtual_machine_scale_set_vms.begin_run_command(
                resource_group, vmss_name, instance_id, body, polling_interval=polling_interval
            )
            result = poller.result(timeout=max(deadline - clock(), 0.001))
            if not poller.done():
                return InstanceApply(instance_id, "pending", digest, "still running at the pass's time limit")
        except HttpResponseError as exc:
            classified = classify(exc)
            if exc.status_code == 409:
                return InstanceApply(
                    instance_id, "busy", digest, f"{classified.code}: {_short(classified.message)}"
                )
            return InstanceApply(
                instance_id, "error", digest, f"{classified.code}: {_short(classified.message)}"
            )
        except _INSTANCE_ERRORS as exc:  # network trouble etc.: this instance only, next pass
            classified = classify(exc)
            return InstanceApply(
                instance_id, "error", digest, f"{classified.code}: {_short(classified.message)}"
            )
        parsed = parse_apply_result(_output_of(result))
        if parsed.ok and parsed.hash not in (None, digest):
            # The script echoes the hash it was given; anything else is not our command's answer.
            return InstanceApply(
                instance_id, "unknown", digest, f"result line for another hash {parsed.hash}"
            )
        error = None if parsed.ok else _short(parsed.detail) or parsed.result
        return InstanceApply(instance_id, parsed.result, digest, error)

    if not instance_ids:
        return {}
    with ThreadPoolExecutor(
        max_workers=max(1, min(concurrency, len(instance_ids))), thread_name_prefix="run-command"
    ) as pool:
        results = list(pool.map(run, instance_ids))
    return {r.instance_id: r for r in results}
