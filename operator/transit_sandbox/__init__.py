"""The embedded sandbox: emulated Azure Resource Manager, Databricks account API, Kubernetes API and
VMSS instances that are network namespaces running real HAProxy.

It is a product component of its own and never imports `transit_operator`: it emulates the platforms,
it does not know the operator.
"""
