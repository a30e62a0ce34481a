"""ConfluentPrivateLink: drive private endpoints and private DNS to the plan, and report what the cloud says.

    reconcile(body, ctx) -> Outcome     one pass (`pass_`)
    finalize(body, ctx) -> Outcome      `deletionPolicy` on delete (`finalizer`)

One pass, level-based, never blocking (the pipeline is `reconcile.pass_record`'s, the same as the
ServerlessTransit's):

    1. validate the body with the API models          invalid -> Stalled/InvalidSpec with the field path
    2. until Ready at this generation: `reconcile.preflight` (the subnet and the VNets exist) - nothing is
       written while something is missing
    3. per zone (`endpoints`): ensure the private endpoint (one GET; a PUT only when missing/different),
       read its connection state; when Approved, its private IP from the NIC (one GET). Endpoints of zones
       that left the spec: start deleting them
    4. when dns.manageZone (`dns`): ensure the zone; then, once it exists, its VNet links and record sets
       (one list call each; stale ones of ours are removed first) for the *healthy* zones only:
       Approved and with a known IP (a zone that is not is left out, never pointed at nothing).
       A zone of an earlier `dnsDomain` (or the zone, once `dns.manageZone` turned false) is removed with
       our records and links, when tagged as ours (`status.retiringDnsZoneIds` until it is gone)
    5. status: zones, dnsZoneId, conditions (Ready/Reconciling/Stalled + EndpointsApproved, DnsReady),
       and when to come back (`requeue_after`): soon while a write is in flight or an approval is
       Pending, never for a Rejected/Disconnected connection or a fatal error alone (the drift timer and
       spec changes re-run us).

Long-running operations are started with `polling=False` (`cloud.arm`); the next pass reads their
`provisioningState`, so a restarted operator simply carries on from what the cloud shows.

`finalize` honours `deletionPolicy`: `Delete` removes record sets, VNet links, the zone, then the
endpoints (reverse dependency order; each layer only once the one above it is gone), `Orphan` removes only
our ownership tags. Objects not tagged as ours are never deleted.
"""

from __future__ import annotations

from transit_operator.reconcile.confluent.finalizer import finalize
from transit_operator.reconcile.confluent.pass_ import reconcile

__all__ = ["finalize", "reconcile"]
