"""docs/api.md is generated from the models and kept in step with them."""

from __future__ import annotations

from pathlib import Path

from transit_operator.api.reference import render_reference

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_committed_api_reference_equals_the_generated_one() -> None:
    assert API_MD.read_text() == render_reference(), (
        "docs/api.md drifted from the models; regenerate with: scripts/dev generate"
    )


def test_reference_lists_every_spec_field_of_both_kinds_with_a_description() -> None:
    text = render_reference()
    for field in ("spec.confluent.zones[].privateLinkServiceAlias", "spec.haproxy.runCommandConcurrency",
                  "spec.applicationGateway.privateFrontendIp", "spec.databricks.ncc.id", "status.ncc.connectionState"):
        row = next(line for line in text.splitlines() if line.startswith(f"| `{field}`"))
        assert row.split("|")[3].strip(), f"{field} has no description"
