"""api.kinds is the one place the API identity is written: the models, the CRDs, the kopf registrations and
the plans all say what it says."""

from __future__ import annotations

from typing import get_args

import pytest

from transit_operator.api import kinds
from transit_operator.api.crd import build_crds, crd_file_names
from transit_operator.api.v1alpha1 import KINDS
from transit_operator.plan import confluent, transit
from transit_operator.runtime import driver, handlers


@pytest.mark.parametrize("entry", kinds.KIND_TABLE, ids=lambda entry: entry.kind)
def test_each_model_s_literals_are_the_table_s(entry: kinds.Kind) -> None:
    model = KINDS[entry.kind]
    assert get_args(model.model_fields["api_version"].annotation) == (kinds.API_VERSION,)
    assert get_args(model.model_fields["kind"].annotation) == (entry.kind,)


def test_every_kind_has_a_model_and_a_crd() -> None:
    assert [entry.kind for entry in kinds.KIND_TABLE] == list(KINDS)
    crds = build_crds()
    assert [crd["metadata"]["name"] for crd in crds] == [entry.crd_name for entry in kinds.KIND_TABLE]
    for crd, entry in zip(crds, kinds.KIND_TABLE, strict=True):
        names = crd["spec"]["names"]
        assert (crd["spec"]["group"], crd["spec"]["versions"][0]["name"]) == (kinds.GROUP, kinds.VERSION)
        assert (names["kind"], names["plural"], names["singular"], names["shortNames"]) == (
            entry.kind, entry.plural, entry.singular, [entry.short_name]
        )
        columns = [column["name"] for column in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
        assert columns == ["Ready", *(column["name"] for column in entry.columns), "Reason", "Age"]
    assert crd_file_names() == [f"{kinds.GROUP}_{entry.plural}.yaml" for entry in kinds.KIND_TABLE]


def test_the_runtime_and_the_plans_name_the_kinds_from_the_table() -> None:
    cpl, sxt = kinds.CONFLUENT_PRIVATE_LINK, kinds.SERVERLESS_TRANSIT
    registered = {
        "plurals": (handlers.CONFLUENT_PLURAL, handlers.TRANSIT_PLURAL),
        "finalizer": handlers.FINALIZER,
        "driver": (driver.CONFLUENT, driver.TRANSIT),
        "plans": (confluent.KIND, transit.KIND),
    }
    assert registered == {
        "plurals": (cpl.plural, sxt.plural),
        "finalizer": f"{kinds.GROUP}/finalizer",
        "driver": (cpl.kind, sxt.kind),
        "plans": (cpl.kind, sxt.kind),
    }
