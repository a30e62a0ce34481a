"""Status conditions: the only way reconcilers say how an object is doing.

kstatus (https://github.com/kubernetes-sigs/cli-utils/blob/master/pkg/kstatus/README.md) reads three
condition types, and every object here carries all three, each with `observedGeneration`:

    Ready        True once the cloud matches the spec (and approvals are in)
    Reconciling  True while work is in flight or awaited (an LRO, an approval); Ready is then False
    Stalled      True when retrying cannot help until the spec (or the cloud, e.g. a role) changes

Conditions are the API's `Condition` models (`api.v1alpha1`). The named constructors `ready()`,
`reconciling()` and `stalled()` return that triple, consistent by construction; domain conditions (`EndpointsApproved`, `DnsReady`, `ConfigApplied`, ...) come from
`domain()`. Reasons are the closed set in `Reason`: add a member there, never a string at a call site.

`set_condition()` is the one setter: it replaces a condition by type and keeps `lastTransitionTime` unless
the status changed. Everything is pure; the clock is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from transit_operator.api.v1alpha1 import Condition

Status = Literal["True", "False", "Unknown"]

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
ENDPOINTS_APPROVED = "EndpointsApproved"
DNS_READY = "DnsReady"
CONFIG_APPLIED = "ConfigApplied"
NCC_RULE_ESTABLISHED = "NccRuleEstablished"
# Whether Kafka gets through, hop by hop (`reconcile.transit.diagnosis`); never part of Ready, so GitOps
# health does not change with a Confluent-side incident.
DATA_PATH_HEALTHY = "DataPathHealthy"

DOMAIN_TYPES = frozenset({ENDPOINTS_APPROVED, DNS_READY, CONFIG_APPLIED, NCC_RULE_ESTABLISHED, DATA_PATH_HEALTHY})


class Reason(StrEnum):
    """Every reason a condition may carry (CamelCase, as Kubernetes conventions ask)."""

    # all good
    RECONCILED = "Reconciled"
    APPROVED = "Approved"
    RECORDS_PUBLISHED = "RecordsPublished"
    NOT_MANAGED = "NotManaged"  # e.g. dns.manageZone: false
    # work in flight or awaited (Reconciling)
    PROVISIONING = "Provisioning"  # writes started, long-running operations in flight
    WAITING_FOR_APPROVAL = "WaitingForApproval"  # a private endpoint connection is Pending
    WAITING_FOR_ENDPOINT_IP = "WaitingForEndpointIp"  # approved, the NIC has no private IP yet
    WAITING_FOR_DEPENDENCY = (
        "WaitingForDependency"  # another object (e.g. the ConfluentPrivateLink) not ready
    )
    TRANSIENT_ERROR = "TransientError"  # throttled, busy, 5xx: retried with a delay
    # a permission, resource group or referenced resource that appears minutes later (AuthorizationFailed,
    # ResourceGroupNotFound, InvalidResourceReference): retried slowly, never Stalled for it
    WAITING_FOR_PROPAGATION = "WaitingForPropagation"
    DELETING = "Deleting"
    # stuck until something changes (Stalled)
    INVALID_SPEC = "InvalidSpec"
    INVALID_CREDENTIALS = "InvalidCredentials"  # the credentials Secret cannot be used (names the key)
    CONNECTION_REJECTED = "ConnectionRejected"
    CONNECTION_DISCONNECTED = "ConnectionDisconnected"
    OWNERSHIP_CONFLICT = "OwnershipConflict"
    CLOUD_ERROR = "CloudError"  # a fatal Azure/Databricks error; its code is in the message
    PROVISIONING_FAILED = "ProvisioningFailed"  # provisioningState Failed after our write
    REGION_MISMATCH = "RegionMismatch"  # the NCC is not in its workspaces' region (ServerlessTransit)
    CONFIG_APPLY_FAILED = "ConfigApplyFailed"  # an instance refused the HAProxy config (haproxy -c, reload)
    NCC_RULE_FAILED = "NccRuleFailed"  # the NCC rule keeps failing (CREATE_FAILED, EXPIRED) when replaced
    # DataPathHealthy (a diagnosis of the data path; never on Ready)
    HOPS_HEALTHY = "HopsHealthy"
    HOP_BROKEN = "HopBroken"
    HOP_UNKNOWN = "HopUnknown"  # a hop could not be read (and none was seen broken)


# Reasons that report progress, not a problem: no Warning event for them (`pass_record.warnings`).
PROGRESS_REASONS = frozenset(
    {
        Reason.RECONCILED,
        Reason.APPROVED,
        Reason.RECORDS_PUBLISHED,
        Reason.NOT_MANAGED,
        Reason.PROVISIONING,
        Reason.WAITING_FOR_APPROVAL,
        Reason.WAITING_FOR_ENDPOINT_IP,
        Reason.WAITING_FOR_DEPENDENCY,
        Reason.DELETING,
    }
)


def _condition(type_: str, status: Status, reason: Reason, message: str, generation: int | None) -> Condition:
    return Condition(
        type=type_, status=status, reason=str(reason), message=message, observed_generation=generation
    )


def ready(generation: int | None, message: str = "the cloud matches the spec") -> list[Condition]:
    """Ready=True, Reconciling=False, Stalled=False."""
    return [
        _condition(READY, "True", Reason.RECONCILED, message, generation),
        _condition(RECONCILING, "False", Reason.RECONCILED, "", generation),
        _condition(STALLED, "False", Reason.RECONCILED, "", generation),
    ]


def reconciling(reason: Reason, message: str, generation: int | None) -> list[Condition]:
    """Ready=False and Reconciling=True with `reason`; Stalled=False."""
    return [
        _condition(READY, "False", reason, message, generation),
        _condition(RECONCILING, "True", reason, message, generation),
        _condition(STALLED, "False", reason, "", generation),
    ]


def stalled(reason: Reason, message: str, generation: int | None) -> list[Condition]:
    """Ready=False and Stalled=True with `reason`; Reconciling=False."""
    return [
        _condition(READY, "False", reason, message, generation),
        _condition(RECONCILING, "False", reason, "", generation),
        _condition(STALLED, "True", reason, message, generation),
    ]


def domain(type_: str, ok: bool | None, reason: Reason, message: str, generation: int | None) -> Condition:
    """A domain condition (`EndpointsApproved`, `DnsReady`, ...); `ok=None` means Unknown."""
    if type_ not in DOMAIN_TYPES:
        raise ValueError(f"unknown domain condition type {type_!r}; add it to DOMAIN_TYPES")
    status: Status = "Unknown" if ok is None else "True" if ok else "False"
    return _condition(type_, status, reason, message, generation)


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(conditions: Sequence[Condition], new: Condition, now: datetime) -> list[Condition]:
    """`conditions` with `new` in place of the condition of the same type (appended if absent).

    `lastTransitionTime` stays as it was unless the status changed (Kubernetes API conventions).
    """
    result: list[Condition] = []
    replaced = False
    for old in conditions:
        if old.type != new.type:
            result.append(old)
            continue
        unchanged = old.status == new.status and old.last_transition_time
        stamp = old.last_transition_time if unchanged else _timestamp(now)
        result.append(new.model_copy(update={"last_transition_time": stamp}))
        replaced = True
    if not replaced:
        result.append(new.model_copy(update={"last_transition_time": _timestamp(now)}))
    return result


def set_conditions(conditions: Sequence[Condition], new: Iterable[Condition], now: datetime) -> list[Condition]:
    """`set_condition` for each of `new`, in order."""
    result = list(conditions)
    for condition in new:
        result = set_condition(result, condition, now)
    return result


def find(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def is_true(conditions: Sequence[Condition], type_: str) -> bool:
    found = find(conditions, type_)
    return found is not None and found.status == "True"
