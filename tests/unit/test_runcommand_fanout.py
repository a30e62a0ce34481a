"""`cloud.runcommand.apply_config`: the run-command fan-out, through the real `ComputeManagementClient`.

Only the socket is replaced: a `requests` adapter answers like Azure's compute RP (list instances,
`POST .../virtualMachines/{id}/runCommand` with a 200 result, a 409 Conflict, or a 202 that never
completes), and records what it was sent and how many commands were in flight at once.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import urllib3
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport
from azure.mgmt.compute import ComputeManagementClient

from transit_operator.cloud.runcommand import apply_config, build_run_command_input, list_instance_ids
from transit_operator.plan.haproxy_config import config_hash

SUB = "aaaaaaaa-0000-0000-0000-000000000001"
RG = "transit"
VMSS = "vmss-transit-123456"
CONFIG = "global\n    log stdout format raw local0\n"
HASH = config_hash(CONFIG)

Answer = Callable[[str, dict[str, str]], tuple[int, dict[str, Any], dict[str, str]]]


def applied(result: str = "applied", detail: str = "reloaded") -> Answer:
    def answer(instance: str, params: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        line = f"TRANSIT_APPLY result={result} hash={params['CONFIG_HASH']} detail={detail}"
        message = f"Enable succeeded: \n[stdout]\n{line}\n\n[stderr]\n"
        return 200, {"value": [{"code": "ProvisioningState/succeeded", "message": message}]}, {}

    return answer


def conflict(instance: str, params: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = {"error": {"code": "Conflict", "message": "Run command extension execution is in progress."}}
    return 409, body, {}


def never_finishes(instance: str, params: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
    status = f"https://compute.test/operations/{instance}?api-version=2026-04-01"
    return 202, {}, {"Azure-AsyncOperation": status, "Location": status, "Retry-After": "0"}


@dataclass
class FakeCompute(requests.adapters.BaseAdapter):
    instances: list[str]
    answers: dict[str, Answer] = field(default_factory=dict)
    default: Answer = field(default_factory=applied)
    delay: float = 0.0
    sent: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    operations_done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        super().__init__()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        path = requests.utils.urlparse(request.url).path
        if request.method == "GET" and path.startswith("/operations/"):
            status = "Succeeded" if self.operations_done.is_set() else "InProgress"
            return self._response(request, 200, {"status": status}, {"Retry-After": "0"})
        if request.method == "GET" and path.endswith("/virtualMachines"):
            value = [{"instanceId": i, "name": f"{VMSS}_{i}"} for i in self.instances]
            return self._response(request, 200, {"value": value}, {})
        match = re.search(r"/virtualMachines/([^/]+)/runCommand$", path)
        assert request.method == "POST" and match, (request.method, path)
        instance = match.group(1)
        body = json.loads(request.body or b"{}")
        params = {p["name"]: p["value"] for p in body["parameters"]}
        with self.lock:
            self.sent.append((instance, params))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            status, payload, headers = self.answers.get(instance, self.default)(instance, params)
        finally:
            with self.lock:
                self.in_flight -= 1
        return self._response(request, status, payload, headers)

    @staticmethod
    def _response(
        request: requests.PreparedRequest, status: int, payload: dict[str, Any], headers: dict[str, str]
    ) -> requests.Response:
        data = json.dumps(payload).encode()
        all_headers = {"Content-Type": "application/json", "Content-Length": str(len(data)), **headers}
        response = requests.Response()
        response.status_code = status
        response.raw = urllib3.HTTPResponse(
            body=io.BytesIO(data), headers=all_headers, status=status, preload_content=False
        )
        response.headers.update(all_headers)
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass

    def sent_to(self) -> list[str]:
        return sorted(i for i, _ in self.sent)


class Token:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("token", int(time.time()) + 3600)


def client(fake: FakeCompute) -> ComputeManagementClient:
    session = requests.Session()
    session.mount("https://", fake)
    return ComputeManagementClient(
        Token(), SUB, base_url="https://compute.test", transport=RequestsTransport(session=session)
    )


def run(fake: FakeCompute, ids: list[str], **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "config": CONFIG,
        "concurrency": 3,
        "deadline_seconds": 10,
        "polling_interval": 0,
    }
    options.update(kwargs)
    return apply_config(client(fake), RG, VMSS, ids, **options)


def test_instances_are_listed_in_numeric_order() -> None:
    fake = FakeCompute(instances=["10", "2", "0"])
    assert list_instance_ids(client(fake), RG, VMSS) == ["0", "2", "10"]


def test_the_body_carries_the_script_and_the_config_only_as_parameters() -> None:
    body = build_run_command_input(CONFIG)
    assert body["commandId"] == "RunShellScript"
    params = {p["name"]: p["value"] for p in body["parameters"]}
    assert base64.b64decode(params["CONFIG_B64"]).decode() == CONFIG
    assert params["CONFIG_HASH"] == HASH
    assert not any(CONFIG.splitlines()[0] in line for line in body["script"])


def test_every_instance_gets_exactly_one_command_within_the_concurrency_bound() -> None:
    ids = [str(i) for i in range(8)]
    fake = FakeCompute(instances=ids, delay=0.05)
    results = run(fake, ids, concurrency=3)
    assert fake.sent_to() == sorted(ids)
    assert fake.max_in_flight == 3
    assert {r.state for r in results.values()} == {"applied"}
    assert all(r.ok and r.config_hash == HASH and r.error is None for r in results.values())


@pytest.mark.parametrize(
    ("answer", "state", "error"),
    [
        pytest.param(applied("unchanged", "already-applied"), "unchanged", None, id="already-applied"),
        pytest.param(
            applied("invalid", "haproxy -c: [ALERT] parsing"), "invalid", "haproxy -c", id="check-failed"
        ),
        pytest.param(applied("failed", "rolled back"), "failed", "rolled back", id="reload-failed"),
        pytest.param(conflict, "busy", "Conflict", id="another-command-runs"),
    ],
)
def test_one_instance_outcome_does_not_affect_the_others(
    answer: Answer, state: str, error: str | None
) -> None:
    fake = FakeCompute(instances=["0", "1", "2"], answers={"1": answer})
    results = run(fake, ["0", "1", "2"])
    assert results["1"].state == state
    assert (results["1"].error is None) == (error is None)
    if error:
        assert error in (results["1"].error or "")
    assert results["0"].state == results["2"].state == "applied"
    assert fake.sent_to() == ["0", "1", "2"]


def test_output_without_a_result_line_is_unknown_not_success() -> None:
    def truncated(instance: str, params: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        return 200, {"value": [{"code": "ProvisioningState/succeeded", "message": "[stdout]\n...cut"}]}, {}

    results = run(FakeCompute(instances=["0"], answers={"0": truncated}), ["0"])
    assert results["0"].state == "unknown" and not results["0"].ok


def test_a_command_still_running_at_the_deadline_is_pending_and_later_ones_are_not_started() -> None:
    fake = FakeCompute(instances=["0", "1"], answers={"0": never_finishes})
    results = run(fake, ["0", "1"], concurrency=1, deadline_seconds=0.3, polling_interval=0.05)
    fake.operations_done.set()  # the abandoned poller of instance 0 ends once the command does
    assert results["0"].state == "pending"
    assert results["1"].state == "skipped"
    assert fake.sent_to() == ["0"]


def test_no_instances_no_requests() -> None:
    fake = FakeCompute(instances=[])
    assert run(fake, []) == {}
    assert fake.sent == []
