"""ServerlessTransit plans, one module per option, and the families options share.

    common      what every option's plan has: the Databricks actions, `waiting`, NSG rules
    lb_pls      Standard Load Balancer + Private Link Service (a front door for instance-based proxies)
    vmss        a Uniform scale set in an LB backend pool
    haproxy     option `haproxy`: NSG + lb_pls + vmss + HAProxy's files (`plan.haproxy_config`)
    appgw       option `applicationGateway`: public IP, gateway NSG, Application Gateway

`PLANS` maps `spec.option` to its builder: one line per option (the API's `TRANSIT_OPTIONS` and the
reconciler's `reconcile.transit.registry.OPTIONS` list the same names).
"""

from __future__ import annotations

from collections.abc import Callable

from transit_operator.api.v1alpha1 import ConfluentPrivateLink, ServerlessTransit
from transit_operator.plan.model import Plan
from transit_operator.plan.transit.appgw import build_appgw_transit_plan
from transit_operator.plan.transit.common import KIND
from transit_operator.plan.transit.haproxy import build_haproxy_transit_plan

__all__ = ["KIND", "PLANS", "TransitPlanner", "build_transit_option_plan"]

# (the ServerlessTransit, its ConfluentPrivateLink or None, the uid) -> the option's plan
TransitPlanner = Callable[..., Plan]

PLANS: dict[str, TransitPlanner] = {
    "haproxy": build_haproxy_transit_plan,
    "applicationGateway": build_appgw_transit_plan,
}


def build_transit_option_plan(sxt: ServerlessTransit, *, cpl: ConfluentPrivateLink | None, uid: str | None) -> Plan:
    """The plan of `sxt`'s option (`PLANS`)."""
    return PLANS[sxt.spec.option](sxt, cpl=cpl, uid=uid)
