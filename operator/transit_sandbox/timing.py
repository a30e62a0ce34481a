"""Timing profiles of the sandbox cloud: how long its operations take.

`fast` (the default) finishes everything in milliseconds, so tests converge in seconds. `realistic` gives
each operation the duration Azure and Databricks take (below, with the source of each figure), multiplied
by one `time_scale` factor: the same factor `transit-operator run --time-scale` multiplies the operator's own
waits by, so a ratio measured at 1/20 speed (`time_scale=0.05`) holds at full speed (`bench/time_to_ready.py`).

    transit-operator sandbox --timing realistic --time-scale 0.05
    transit-operator emulator --timing realistic --time-scale 0.05

Figures are in real-cloud seconds. Where the platform rules (docs/platform-rules.md) and their
sources give no figure of their own, the figure is issue 16's and marked UNCONFIRMED.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NETWORK = "Microsoft.Network"
COMPUTE = "Microsoft.Compute"


@dataclass(frozen=True)
class Duration:
    seconds: float
    source: str


# How long an ARM write (its LRO) takes, by resource type.
REALISTIC_LRO: dict[str, Duration] = {
    f"{NETWORK}/privateEndpoints": Duration(
        45.0, "30-60 s to create a private endpoint (issue 16; UNCONFIRMED: no measurement in the design notes)"),
    f"{NETWORK}/loadBalancers": Duration(10.0, "about 10 s for a Standard LB (issue 16; UNCONFIRMED)"),
    f"{NETWORK}/privateLinkServices": Duration(30.0, "about 30 s for a Private Link Service (issue 16; UNCONFIRMED)"),
    f"{COMPUTE}/virtualMachineScaleSets": Duration(
        150.0, "2-3 minutes for a scale set and its first instances to be provisioned (issue 16; UNCONFIRMED)"),
    f"{NETWORK}/applicationGateways": Duration(
        360.0, "\"Most deployments that use the v2 SKU take around 6 minutes\" (Application Gateway FAQ, "
               "docs/platform-rules.md#long-running-operations; field reports give 20-25 min for a first apply)"),
}
# Every other ARM write (NSG, public IP, private DNS zone, link and records, NIC): a few seconds.
REALISTIC_DEFAULT_LRO = Duration(5.0, "a few seconds (UNCONFIRMED: no figure in the design notes)")
# Databricks: an NCC private endpoint rule stays CREATING until its endpoint exists, then PENDING; after the
# approval in Azure it turns ESTABLISHED about a minute later.
REALISTIC_RULE_CREATING = Duration(
    60.0, "NCC rule CREATING -> PENDING about 1 min (issue 16; states: docs/platform-rules.md#ncc-rule, UNCONFIRMED figure)")
REALISTIC_RULE_ESTABLISHING = Duration(
    60.0, "NCC rule PENDING -> ESTABLISHED about 1 min after approval (issue 16; UNCONFIRMED figure)")
# A managed run command on a Linux instance.
REALISTIC_RUN_COMMAND = Duration(
    20.0, "~20 s minimum per run command (MicrosoftDocs articles/virtual-machines/linux/run-command.md, "
          "docs/platform-rules.md#run-command)")
# Confluent Cloud approving a private endpoint of a registered subscription.
REALISTIC_CONFLUENT_APPROVAL = Duration(10.0, "seconds (UNCONFIRMED: Confluent's approval is automatic)")
# The Retry-After ARM sends with an LRO and a 429 conflict.
REALISTIC_RETRY_AFTER = Duration(10.0, "about 10 s on Network operations (docs/platform-rules.md#throttling)")

PROFILES = ("fast", "realistic")


def apply_profile(cloud: Any, profile: str, time_scale: float = 1.0) -> dict[str, float]:
    """Set `cloud`'s (a `SandboxCloud`) operation durations to `profile`, every one times `time_scale`.
    Returns what was set (seconds by name), for the sandbox command to print. `fast` leaves the defaults."""
    if profile not in PROFILES:
        raise ValueError(f"timing profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    if not 0 < time_scale <= 100:
        raise ValueError(f"time scale must be in (0, 100], got {time_scale}")
    if profile == "fast":
        return {}
    applied: dict[str, float] = {}
    admin, arm = cloud.admin, cloud.arm
    admin.set_lro_seconds(None, REALISTIC_DEFAULT_LRO.seconds * time_scale)
    applied["default LRO"] = REALISTIC_DEFAULT_LRO.seconds * time_scale
    for type_, duration in REALISTIC_LRO.items():
        admin.set_lro_seconds(type_, duration.seconds * time_scale)
        applied[type_] = duration.seconds * time_scale
    # The header is whole seconds (the SDKs read an int): a scaled hint below one second is sent as 0,
    # which makes a client fall back to its own (scaled) interval.
    admin.set_retry_after(int(REALISTIC_RETRY_AFTER.seconds * time_scale))
    applied["Retry-After"] = int(REALISTIC_RETRY_AFTER.seconds * time_scale)
    admin.set_confluent_approval_seconds(REALISTIC_CONFLUENT_APPROVAL.seconds * time_scale)
    applied["Confluent approval"] = REALISTIC_CONFLUENT_APPROVAL.seconds * time_scale
    with arm.lock:
        arm.run_command_seconds = REALISTIC_RUN_COMMAND.seconds * time_scale
    applied["run command"] = arm.run_command_seconds
    if cloud.databricks is not None:
        cloud.databricks.creating_seconds = REALISTIC_RULE_CREATING.seconds * time_scale
        cloud.databricks.established_seconds = REALISTIC_RULE_ESTABLISHING.seconds * time_scale
        applied["NCC rule CREATING"] = cloud.databricks.creating_seconds
        applied["NCC rule PENDING after approval"] = cloud.databricks.established_seconds
    return applied
