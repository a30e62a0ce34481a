"""The ServerlessTransit options this operator build reconciles: `spec.option` -> its `TransitOption`.

One line per option; the API's `api.v1alpha1.TRANSIT_OPTIONS` and the plan's `plan.transit.PLANS` list
the same names (tests/unit/test_option_registry.py keeps the three in step).
"""

from __future__ import annotations

from transit_operator.reconcile.transit import appgw, haproxy
from transit_operator.reconcile.transit.option import TransitOption

__all__ = ["OPTIONS"]

OPTIONS: dict[str, TransitOption] = {
    "haproxy": haproxy.OPTION,
    "applicationGateway": appgw.OPTION,
}
