"""image/oci_run.py's translation of the chart's pod into an OCI runtime spec (what the image test runs)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import REPO, Rendered

sys.path.insert(0, str(REPO / "image"))

import oci_run

IMAGE_CONFIG = {"config": {"User": "65532:65532", "Entrypoint": ["transit-operator", "run"], "WorkingDir": "/tmp",
                           "Env": ["PATH=/opt/venv/bin:/usr/bin", "HOME=/tmp"]}}


def spec_of(render: Callable[..., Rendered], values: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    return oci_run.runtime_spec(IMAGE_CONFIG, render(values or {}).one("Deployment"), rootfs="/rootfs", **kwargs)


def test_the_charts_pod_becomes_a_non_root_read_only_process_without_capabilities(
    render: Callable[..., Rendered]
) -> None:
    spec = spec_of(render)
    process = spec["process"]
    assert process["user"] == {"uid": 65532, "gid": 65532, "additionalGids": [65532]}
    assert process["args"][:3] == ["transit-operator", "run", "--all-namespaces"]
    assert process["cwd"] == "/tmp" and process["noNewPrivileges"] is True
    assert all(caps == [] for caps in process["capabilities"].values())
    assert spec["root"] == {"path": "/rootfs", "readonly": True}
    (tmp,) = [m for m in spec["mounts"] if m["destination"] == "/tmp"]
    assert tmp["type"] == "tmpfs" and f"size={64 * 2**20}" in tmp["options"]
    assert spec["linux"]["resources"]["memory"] == {"limit": 512 * 2**20}
    assert spec["linux"]["resources"]["cpu"] == {"period": 100_000, "quota": 100_000}
    assert "POD_ID=transit-transit-operator-0" in process["env"]


def test_an_image_running_as_root_is_refused_like_the_kubelet_refuses_run_as_non_root(
    render: Callable[..., Rendered]
) -> None:
    """The chart's schema refuses uid 0; with the uid left to the image (null), the image's USER decides."""
    deployment = render({"podSecurityContext": {"runAsUser": None, "runAsGroup": None, "fsGroup": None}}
                        ).one("Deployment")
    root_image = {"config": {**IMAGE_CONFIG["config"], "User": "0:0"}}
    with pytest.raises(ValueError, match="runAsNonRoot"):
        oci_run.runtime_spec(root_image, deployment, rootfs="/rootfs")
    assert oci_run.runtime_spec(IMAGE_CONFIG, deployment, rootfs="/rootfs")["process"]["user"]["uid"] == 65532


def test_config_map_volumes_are_read_only_binds_of_the_callers_directory(render: Callable[..., Rendered]) -> None:
    spec = spec_of(render, {"caBundle": {"configMap": "corp-ca", "key": "ca.crt"}},
                   volume_sources={"ca-bundle": "/host/ca"})
    (ca,) = [m for m in spec["mounts"] if m["destination"] == "/etc/transit-operator/ca"]
    assert ca["source"] == "/host/ca" and "ro" in ca["options"]
    assert "--ca-bundle=/etc/transit-operator/ca/ca.crt" in spec["process"]["args"]


def test_an_api_server_is_reached_through_the_service_account_mount(render: Callable[..., Rendered]) -> None:
    spec = spec_of(render, api_server=oci_run.ApiServerAccess("/host/sa", "127.0.0.1", 6443))
    assert {"KUBERNETES_SERVICE_HOST=127.0.0.1", "KUBERNETES_SERVICE_PORT=6443"} <= set(spec["process"]["env"])
    (token,) = [m for m in spec["mounts"] if m["destination"] == oci_run.SERVICE_ACCOUNT_DIR]
    assert token["source"] == "/host/sa" and "ro" in token["options"]


@pytest.mark.parametrize(("quantity", "value"), [("512Mi", 512 * 2**20), ("100m", 0.1), ("1", 1.0), ("2G", 2e9)])
def test_kubernetes_quantities(quantity: str, value: float) -> None:
    assert oci_run.parse_quantity(quantity) == pytest.approx(value)
