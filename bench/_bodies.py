"""Bodies and printing for the benchmarks, without the cloud clients (cheap to import: `memory.py`'s
child processes measure memory after importing this)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

LOCATION = "eastus2"
DOMAIN = "n-bench1.eastus2.azure.confluent.cloud"
BOOTSTRAP = f"lkc-bench1.{DOMAIN}:9092"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGt0ZXN0a2V5Zm9ydHJhbnNpdG9wZXJhdG9ydGVzdHM= bench"
ZONES = ("az1", "az2", "az3")


def alias(i: int) -> str:
    return f"s-bench-privatelink-{i}.0f6a1c5e-1a2b-4c3d-8e9f-00112233445{i}.{LOCATION}.azure.privatelinkservice"


# --- bodies -----------------------------------------------------------------------------------------


def vnet_id(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/vnet"


def cpl_body(index: int, sub: str, rg: str) -> dict[str, Any]:
    """A 3-zone ConfluentPrivateLink with managed private DNS linked to the resource group's VNet."""
    vnet = vnet_id(sub, rg)
    return {
        "apiVersion": "transit.privatelink.io/v1alpha1",
        "kind": "ConfluentPrivateLink",
        "metadata": {"name": f"confluent-{index}", "namespace": "bench", "uid": f"cpl-{index}", "generation": 1},
        "spec": {
            "azure": {"subscriptionId": sub, "resourceGroup": rg, "location": LOCATION},
            "confluent": {
                "networkId": "n-bench1",
                "dnsDomain": DOMAIN,
                "bootstrapServer": BOOTSTRAP,
                "zones": [{"name": z, "privateLinkServiceAlias": alias(i)} for i, z in enumerate(ZONES, 1)],
            },
            "privateEndpoints": {"subnetId": f"{vnet}/subnets/consumers"},
            "dns": {"virtualNetworkIds": [vnet]},
        },
    }


def sxt_body(
    index: int, sub: str, rg: str, account_id: str, workspace_id: int, *, instances: int, concurrency: int
) -> dict[str, Any]:
    """An haproxy ServerlessTransit referencing `confluent-<index>`."""
    vnet = vnet_id(sub, rg)
    return {
        "apiVersion": "transit.privatelink.io/v1alpha1",
        "kind": "ServerlessTransit",
        "metadata": {"name": f"transit-{index}", "namespace": "bench", "uid": f"sxt-{index}", "generation": 1},
        "spec": {
            "option": "haproxy",
            "confluentPrivateLinkRef": {"name": f"confluent-{index}"},
            "azure": {"subscriptionId": sub, "resourceGroup": rg, "location": LOCATION},
            "network": {
                "frontendSubnetId": f"{vnet}/subnets/transit",
                "privateLinkSubnetId": f"{vnet}/subnets/pls",
            },
            "haproxy": {
                "instanceCount": instances,
                "zones": ["1", "2", "3"],
                "sshPublicKey": SSH_KEY,
                "runCommandConcurrency": concurrency,
            },
            "databricks": {
                "accountHost": "https://accounts.azuredatabricks.net",
                "accountId": account_id,
                "ncc": {"name": f"ncc-bench-{index}"},
                "workspaceIds": [workspace_id],
            },
        },
    }


# --- output ---------------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A plain fixed-width table on stdout."""
    raw = [list(headers), *[list(row) for row in rows]]
    text = [[_cell(c) for c in row] for row in raw]
    widths = [max(len(row[i]) for row in text) for i in range(len(headers))]
    for k, row in enumerate(text):
        cells = [
            c.rjust(w) if isinstance(raw[k][i], int | float) else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))


def ratio(name: str, value: float | None, note: str = "") -> None:
    """One result line: `ratio <name>: <value>` (the smoke test looks for these)."""
    shown = ("n/a" if value is None else "inf" if value == float("inf")
             else f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}")  # 1000, not 1e+03
    print(f"ratio {name}: {shown}" + (f"  ({note})" if note else ""))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def div(a: float, b: float) -> float:
    return float("inf") if b == 0 and a > 0 else (0.0 if b == 0 else a / b)
