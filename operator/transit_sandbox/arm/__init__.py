"""The emulated Azure Resource Manager, split by provider.

`core` (store, generic verbs, LROs, errors), `routing` (HTTP path -> kind), `ipam` (private IPs),
`privatelink` (endpoint connections, emulated Confluent), `network`, `compute`, `privatedns` (resource types
and their platform rules), `faults` (fault injection, request log, the admin surface).
"""
