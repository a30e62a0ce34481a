"""When to look again: every wait the reconcilers and the runtime use, named, in real-cloud seconds.

A reconciler never sleeps; it returns `Outcome.requeue_after` (seconds) and the runtime calls it again.
The values here are what each wait takes against Azure and Databricks. They are not tied to the SDK's LRO
`polling_interval`: the runtime compresses every one of them with `--time-scale` (the sandbox cloud, whose
operations take milliseconds) and tests cap them with `max_requeue_seconds`, so nothing here changes for
a faster cloud. (In the spirit of Azure Service Operator's `retry.Fast/Slow/VerySlow`.)

What a cloud error asks for is the error's own business: `cloud.errors` classifies it with a delay
(Retry-After when the server sent one, else `SHORT`/`MEDIUM`/`LONG`; `SLOW` for what propagates by
itself), capped here by `MAX_RETRY`.
"""

from __future__ import annotations

from transit_operator.cloud.errors import LONG, MEDIUM, SHORT, SLOW

__all__ = [
    "APPROVAL",
    "BACKENDS",
    "BACKOFF_CAP",
    "BACKOFF_FIRST",
    "CONFIG_REFUSED",
    "DEPENDENCY",
    "DIAGNOSIS_INTERVAL",
    "DRIFT_CHECK",
    "FAILED_DELETE",
    "GATEWAY_LRO",
    "IN_FLIGHT",
    "LONG",
    "MAX_RETRY",
    "MEDIUM",
    "PROPAGATION",
    "RULE_PROGRESS",
    "RULE_REPLACED",
    "RUN_COMMAND",
    "SECRET_MISSING",
    "SHORT",
    "SLOW",
]

# --- waits of a pass that is going well ---------------------------------------------------------------

# A write we started (an LRO) or an operation we found running: ARM resources other than a gateway settle
# in seconds to a minute; a GET this often costs little of the Network read budget (docs/platform-rules.md#read-budget).
IN_FLIGHT = 5.0
# A private endpoint connection that Confluent (or a person) has yet to approve, or an empty backend pool
# that waits for such an approval: someone else's decision, looked at less often than an operation.
APPROVAL = 10.0
BACKENDS = 10.0
# A managed run command under way (the HAProxy config rollout): one takes ~20 s at least
# (MicrosoftDocs articles/virtual-machines/linux/run-command.md) and the next wave of instances, and Ready,
# wait for it, so it is looked at more often than other operations: one GET per instance each time, for the
# few passes of a rollout (an endpoint IP change), never in steady state.
RUN_COMMAND = 1.0
# An Application Gateway update takes about 20 minutes in Azure (docs/platform-rules.md#long-running-operations): poll it this often,
# not every IN_FLIGHT (every GET counts against the read budget).
GATEWAY_LRO = 30.0
# Databricks moves an NCC private endpoint rule CREATING -> PENDING -> ESTABLISHED in seconds to a minute.
RULE_PROGRESS = 10.0
# After replacing a failed or rejected rule: the new one needs a moment to get its endpoint.
RULE_REPLACED = 5.0
# The referenced ConfluentPrivateLink is missing or not Ready (its own changes also kick the transit).
DEPENDENCY = 15.0
# The credentials Secret a spec names does not exist (yet): created by another pipeline, or a typo.
SECRET_MISSING = 30.0
# Something outside the spec must appear first (a subnet, a role assignment, a resource group).
PROPAGATION = SLOW

# --- waits after something went wrong -----------------------------------------------------------------

# An instance refused the HAProxy config (`haproxy -c`, reload): the same config fails the same way until
# something changes on the instance, so its failed run command stays reported this long before a retry.
CONFIG_REFUSED = 60.0
# A delete (finalize) that failed: looked at again after this, unless the error asked for its own delay.
FAILED_DELETE = 5 * IN_FLIGHT
# The longest a retryable error waits, whatever Retry-After said.
MAX_RETRY = 300.0

# --- the runtime ---------------------------------------------------------------------------------------

# A pass that failed (or raised) is retried after BACKOFF_FIRST, doubling per identical failure in a row, up
# to BACKOFF_CAP (`runtime.driver`).
BACKOFF_FIRST = 5.0
BACKOFF_CAP = 300.0
# Re-read the cloud this often when `spec.driftCheckIntervalSeconds` says nothing (its default): Private
# DNS allows ~500 GETs per 5 minutes per subscription (docs/platform-rules.md#read-budget).
DRIFT_CHECK = 300.0

# On-demand diagnoses of one object (`transit.privatelink.io/diagnose`): at most one this often. Each one
# costs POSTs that count against ARM's write budget (1200 per hour per subscription and principal,
# learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling): the gateway's
# backend health, or one run command per HAProxy instance, which also runs for tens of seconds.
DIAGNOSIS_INTERVAL = 60.0
