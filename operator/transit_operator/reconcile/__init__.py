"""Reconcilers: one idempotent `reconcile()` and one `finalize()` per kind.

Each recomputes the desired state (`transit_operator.plan`) from the spec and observed cloud facts, drives
the cloud towards it through `transit_operator.cloud`, and returns an `Outcome`: the status to write and
when to look again. Nothing here blocks on a long-running operation.
"""
