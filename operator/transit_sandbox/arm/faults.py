"""Fault injection and observation for the emulated ARM: what tests and benchmarks steer and count.

- `FaultRule`: the next `count` requests matching a method and a path substring fail with `status`
  (429 with `Retry-After`, 500, 503, ...) before reaching the resource logic, the way ARM throttling and
  transient front-door errors do (https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling);
  or, with `reset`, are served and their answer cut mid-body (`transit_sandbox.connection_faults`).
- `RequestRecord`: one line of the request log (method, path, api-version, status, duration, time) with
  the exchange itself: the JSON request body, the JSON response body and the response headers, as they
  were on the wire (what `transit_sandbox.conformance` checks against the Azure REST specs), and whether
  an injected fault answered it.
- `Admin`: the in-process control surface (`SandboxCloud.admin`), also served over HTTPS under
  `/_sandbox/admin/{method}` (JSON body = keyword arguments) for other processes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from . import privatelink as pl
from . import routing
from .core import (
    CONFLUENT_APPROVAL_SECONDS,
    DEFAULT_LRO_SECONDS,
    Arm,
    ArmError,
    LroFailure,
    ResourceId,
    lower,
)

THROTTLE_CODES = {429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable",
                  504: "GatewayTimeout"}


@dataclass
class FaultRule:
    method: str | None
    path_contains: str
    status: int
    count: int
    retry_after: float | None = None
    code: str | None = None
    message: str | None = None
    reset: bool = False

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method.upper()) and self.path_contains.lower() in path.lower()

    def error(self) -> ArmError:
        headers = {"Retry-After": f"{self.retry_after:g}"} if self.retry_after is not None else {}
        code = self.code or THROTTLE_CODES.get(self.status, "InjectedFault")
        return ArmError(self.status, code, self.message or f"Injected fault ({self.status}).", headers)


@dataclass
class RequestRecord:
    method: str
    path: str
    api_version: str | None
    status: int
    duration: float
    time: float
    body: Any = None  # the JSON request body (None: no body)
    response: Any = None  # the JSON response body (None: no body)
    headers: dict[str, str] = field(default_factory=dict)  # response headers the emulator set
    injected: bool = False  # answered by an injected fault (`inject_fault`), not by the resource logic


class Admin:
    """Steer and observe the emulated cloud. Every method is safe to call from any thread."""

    # Methods reachable over HTTPS (`POST /_sandbox/admin/{name}`).
    remote = ("inject_fault", "clear_faults", "set_lro_seconds", "set_retry_after", "fail_lro", "out_of_band",
              "delete_resource",
              "set_private_endpoint_ip", "set_connection_state", "remove_connection", "set_alias_behaviour",
              "set_confluent_approval_seconds", "requests", "clear_requests", "resource", "resources", "connections", "reset")

    def __init__(self, arm: Arm, check_conformance: bool = False) -> None:
        self.arm = arm
        self.faults: list[FaultRule] = []
        self.log: list[RequestRecord] = []
        self._lock = threading.Lock()
        # Exchanges not yet judged against the Azure REST specs (only with `check_conformance`); kept apart
        # from `log`, so `clear_requests` loses none of them.
        self._checker: Any = None
        if check_conformance:
            from ..conformance import Checker  # the SDK models load only when asked for

            self._checker = Checker()
        self._unjudged: list[RequestRecord] = []
        self._judging = threading.Lock()

    # faults ---------------------------------------------------------------------------------------------
    def inject_fault(self, path_contains: str, status: int = 429, count: int = 1, method: str | None = None,
                     retry_after: float | None = None, code: str | None = None, message: str | None = None,
                     reset: bool = False) -> FaultRule:
        """The next `count` matching requests answer `status` (429 default; `retry_after` seconds header);
        with `reset`, they are served and the connection dies in the middle of the answer. Returns the rule
        (its `count` goes down as it answers)."""
        rule = FaultRule(method, path_contains, status, count, retry_after, code, message, reset)
        with self._lock:
            self.faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def take_fault(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self.faults:
                if rule.count > 0 and rule.matches(method, path):
                    rule.count -= 1
                    self.faults = [r for r in self.faults if r.count > 0]
                    return rule
        return None

    def reset(self) -> None:
        """Faults, the request log and every timing or behaviour set through this API back to what a fresh
        cloud starts with; resources and connections stay."""
        self.clear_faults()
        self.clear_requests()
        with self.arm.lock:
            self.arm.lro_seconds.clear()
            self.arm.default_lro_seconds = DEFAULT_LRO_SECONDS
            self.arm.retry_after_seconds = 0
            self.arm.lro_failures.clear()
            self.arm.confluent_approval_seconds = CONFLUENT_APPROVAL_SECONDS
            self.arm.alias_behaviour.clear()

    def set_lro_seconds(self, type_: str | None, seconds: float) -> None:
        """How long LROs on `type_` (e.g. `Microsoft.Network/applicationGateways`; None: default) take."""
        with self.arm.lock:
            if type_ is None:
                self.arm.default_lro_seconds = seconds
            else:
                self.arm.lro_seconds[type_.lower()] = seconds

    def set_retry_after(self, seconds: int) -> None:
        """The `Retry-After` (whole seconds) sent with LRO responses and 429 conflicts. Azure sends about 10
        on most Network operations; clients sleep for it instead of their own polling interval (0: they use
        their own). The specs declare the header an integer (the SDKs read it as "int")."""
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            raise ValueError(f"retry-after must be a whole number of seconds >= 0, got {seconds!r}")
        with self.arm.lock:
            self.arm.retry_after_seconds = seconds

    def fail_lro(self, match: str, code: str = "InternalServerError", message: str = "Injected LRO failure.",
                 count: int = 1, status: str = "Failed") -> LroFailure:
        """The next `count` LROs whose type or resource id contains `match` end `status` (`Failed`, or
        `Canceled`: someone cancelled the operation) with this error; the resource's provisioningState
        says the same."""
        if status not in ("Failed", "Canceled"):
            raise ValueError(f"an LRO ends Failed or Canceled, not {status}")
        failure = LroFailure(match, code, message, count, status)
        with self.arm.lock:
            self.arm.lro_failures.append(failure)
        return failure

    # out-of-band changes --------------------------------------------------------------------------------
    def out_of_band(self, method: str, resource_id: str, body: dict[str, Any] | None = None) -> Any:
        """A write by someone other than the operator - the portal, another pipeline - through the same
        resource logic as an HTTP request at the type's newest api-version: Azure's rules apply (ArmError
        when it refuses: a load balancer a Private Link Service uses cannot be deleted) and the change
        completes as an LRO does. `PUT` replaces the resource with `body` (REST-shaped, as a GET returns
        it: read-only fields are ignored), `PATCH` merges `body` in, `DELETE` removes it. Returns the
        answer's body."""
        parsed = ResourceId.parse(resource_id)
        kind = self.arm.find_kind(parsed.type) if parsed else None
        if kind is None:
            raise KeyError(f"not an ARM resource id of an emulated type: {resource_id}")
        with self.arm.lock:
            self.arm.tick()
            result = routing.handle(self.arm, method.upper(), resource_id, max(kind.api_versions), {}, body)
            self.arm.save()
            return result.body

    def delete_resource(self, resource_id: str) -> bool:
        """Remove a resource as if someone deleted it outside the operator (no rules, no LRO)."""
        with self.arm.lock:
            doc = self.arm.get_doc(resource_id)
            if doc is None:
                return False
            self.arm.remove(self.arm.kind(doc["type"]), doc)
            self.arm.save()
            return True

    def set_private_endpoint_ip(self, private_endpoint_id: str, ip: str) -> None:
        """Change the private IP of a private endpoint's NIC (what a re-created endpoint would get)."""
        with self.arm.lock:
            pe = self.arm.get_doc(private_endpoint_id)
            if pe is None:
                raise KeyError(private_endpoint_id)
            nic = self.arm.get_doc(pe["properties"]["networkInterfaces"][0]["id"])
            assert nic is not None
            nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"] = ip
            self.arm.save()

    def set_connection_state(self, target_id: str, connection_name: str, status: str, description: str = "") -> None:
        """Approve/reject/disconnect a connection on a PLS, App GW or Confluent alias, bypassing ARM."""
        with self.arm.lock:
            link = self._link(target_id, connection_name)
            pl.set_state(self.arm, link, {"status": status, "description": description})
            self.arm.save()

    def remove_connection(self, target_id: str, connection_name: str) -> None:
        """The service owner removes the connection: the endpoint shows `Disconnected`."""
        with self.arm.lock:
            link = self._link(target_id, connection_name)
            del self.arm.links[lower(link["id"])]
            self.arm.save()

    def connections(self, target_id: str | None = None, endpoint_id: str | None = None) -> list[dict[str, Any]]:
        """Connection records (target, name, endpointId, status, ...), optionally filtered."""
        with self.arm.lock:
            self.arm.tick()
            return [dict(lk) for lk in self.arm.links.values()
                    if (target_id is None or lower(lk["target"]) == lower(target_id))
                    and (endpoint_id is None or lower(lk["endpointId"]) == lower(endpoint_id))]

    def set_alias_behaviour(self, alias: str, behaviour: str) -> None:
        """For an alias no emulated PLS owns (Confluent's): `approve` (default), `reject` or `unknown`."""
        if behaviour not in ("approve", "reject", "unknown"):
            raise ValueError(behaviour)
        with self.arm.lock:
            self.arm.alias_behaviour[alias.lower()] = behaviour

    def set_confluent_answering(self, alias: str, answering: bool) -> None:
        """Confluent's side of a zone stops (or starts again) answering behind its private endpoints: the
        connection stays Approved, but nothing listens (an incident on Confluent's side)."""
        with self.arm.lock:
            if answering:
                self.arm.confluent_silent.discard(alias.lower())
            else:
                self.arm.confluent_silent.add(alias.lower())

    def set_confluent_approval_seconds(self, seconds: float) -> None:
        with self.arm.lock:
            self.arm.confluent_approval_seconds = seconds

    def resource(self, resource_id: str) -> dict[str, Any] | None:
        """The public view of a stored resource (after completing due operations)."""
        with self.arm.lock:
            self.arm.tick()
            doc = self.arm.get_doc(resource_id)
            return None if doc is None else self.arm.kind(doc["type"]).view(self.arm, doc)

    def resources(self, prefix: str | None = None) -> list[dict[str, Any]]:
        """The public view of every stored resource whose id starts with `prefix` (case-insensitive; None:
        all), after completing due operations: what a GET of each would answer."""
        with self.arm.lock:
            self.arm.tick()
            start = (prefix or "").lower()
            return [self.arm.kind(doc["type"]).view(self.arm, doc) for key, doc in sorted(self.arm.resources.items())
                    if key.startswith(start)]

    def _link(self, target_id: str, name: str) -> dict[str, Any]:
        self.arm.tick()
        for link in self.arm.links.values():
            if link["name"].lower() == name.lower() and lower(link["target"]) == lower(target_id):
                return link
        raise KeyError(f"{target_id}/privateEndpointConnections/{name}")

    # request log ----------------------------------------------------------------------------------------
    def record(self, entry: RequestRecord) -> None:
        with self._lock:
            self.log.append(entry)
            if self._checker is not None:
                self._unjudged.append(entry)

    def take_violations(self) -> list[Any]:
        """`transit_sandbox.conformance.Violation`s of the exchanges logged since the last call (needs
        `check_conformance`). Judged here, in the caller's thread, never while a request is served."""
        if self._checker is None:
            raise RuntimeError("this sandbox was started without check_conformance")
        with self._judging:
            with self._lock:
                pending, self._unjudged = self._unjudged, []
            return [violation for entry in pending for violation in self._checker.feed(entry)]

    def requests(self, method: str | None = None, path_contains: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.log if (method is None or r.method == method.upper())
                    and (path_contains is None or path_contains.lower() in r.path.lower())]

    def clear_requests(self) -> None:
        with self._lock:
            self.log.clear()

    def writes(self) -> list[RequestRecord]:
        """PUT/PATCH/POST/DELETE requests to resources (operation polling excluded)."""
        return [r for r in self.requests() if r.method in ("PUT", "PATCH", "POST", "DELETE")]

    def call_remote(self, name: str, kwargs: dict[str, Any]) -> Any:
        if name not in self.remote:
            raise KeyError(name)
        result = getattr(self, name)(**kwargs)
        if isinstance(result, list):
            return [asdict(r) if isinstance(r, RequestRecord) else r for r in result]
        return asdict(result) if isinstance(result, FaultRule | LroFailure) else result


def now() -> float:
    return time.time()
