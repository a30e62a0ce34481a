"""ServerlessTransit: one level-based pass for every `spec.option`; the option supplies only what differs.

    reconcile(body, cpl, ctx) -> Outcome     one pass (`pass_`); `cpl` is the referenced ConfluentPrivateLink
                                             as a dict (the runtime's index lookup), or None when it does not
                                             exist
    finalize(body, ctx) -> Outcome          `deletionPolicy` on delete (`finalizer`)

    option      the seam an option implements (`TransitOption`); `registry`: spec.option -> option
    haproxy     appgw     the options: only what differs
    databricks  the NCC, its private endpoint rule, the approval and the bindings, the same for every option
    diagnosis   does Kafka get through? the data path hop by hop (`status.diagnosis`, `DataPathHealthy`);
                `proxy_health`: each option's own hops

One pass, never waiting on a long-running operation:

    1. validate the body; wait for the ConfluentPrivateLink to be Ready (its endpoint IPs are the backends)
    2. the option's plan (pure) and the Databricks preflight (`databricks`, reads only: credentials,
       workspaces, NCC): nothing is written anywhere before both pass; a region mismatch stops here
    3. the option's Azure resources, dependencies first (`OptionPass.ensure_resources`) -> the private link
       target of the NCC rule
    4. Databricks (`databricks`): NCC, the rule to that target, approval of exactly the rule's connection
       (read from the option's GET of step 3: no extra call), workspace bindings
    5. the option's finish (`OptionPass.finish`: haproxy pushes its config to the instances)
    6. status + conditions: Ready only when the option's resources are provisioned, the rule is ESTABLISHED
       and the option reports itself complete

`finalize`: `Orphan` removes our ownership tags from the option's resources and leaves Databricks as it is;
`Delete` removes the NCC rule first, then the option's resources (`TransitOption.delete`, each layer once
the one above is gone), then the NCC if we created it and nothing else uses it.

To add an option: one module with an `OPTION: TransitOption` (`option`), one line in `registry.OPTIONS`
(docs/architecture.md has the whole checklist).

An invalid body is `Stalled` with reason `InvalidSpec` and the camelCase field path; nothing is read or
written in the cloud. A ConfluentPrivateLink that is missing, invalid or not Ready is waited for
(`Reconciling`, `WaitingForDependency`, requeue): its endpoint IPs are the transit's backends.
"""

from __future__ import annotations

from transit_operator.reconcile.transit.diagnosis import diagnose
from transit_operator.reconcile.transit.finalizer import finalize
from transit_operator.reconcile.transit.pass_ import reconcile
from transit_operator.reconcile.transit.registry import OPTIONS

__all__ = ["OPTIONS", "diagnose", "finalize", "reconcile"]
