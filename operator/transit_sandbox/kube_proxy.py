"""KubeProxy: a reverse proxy in front of a Kubernetes API server that traps writes and injects faults.

The operator is pointed at the proxy (its kubeconfig names the proxy's URL) and the proxy forwards every
request, headers and body as they are, to the API server behind it - the embedded emulator or a real
kube-apiserver - and streams the answer back (watches included). It is the Kubernetes half of the crash
and fault matrices (tests/matrices):

- `write_trap` (`transit_sandbox.traps.WriteTrap`): act (kill the operator) at the Nth write, before it is
  forwarded or after the server applied it but before its answer is relayed;
- `inject_fault(...)`: the next matching requests get an API server error instead of being forwarded
  (a `Status` body with `code`, `reason` and `Retry-After` when given: 409 Conflict on a status patch, 429,
  5xx); `watch_expired` answers a watch with one `ERROR` event carrying a 410 `Expired` Status, as
  kube-apiserver does when the resourceVersion a watch resumes from is too old
  (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes), and
  `reset` forwards the request and cuts the connection in the middle of the answer;
- `requests()`: what was asked and answered, with times (for "no sooner than Retry-After").

```python
with KubeProxy(kube.url) as proxy:
    proxy.write_kubeconfig(path)     # for `transit-operator run --kubeconfig`
    proxy.inject_fault("PATCH", r"/status$", 409)
```
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp
from aiohttp import web

from .kube.client import write_kubeconfig
from .loop_thread import LoopThread
from .traps import WRITE_METHODS, Write, WriteTrap

FaultKind = Literal["status", "watch_expired", "reset"]
# Headers that describe one hop of the connection, not the message (RFC 9110 section 7.6.1).
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                         "trailer", "transfer-encoding", "upgrade", "host", "content-length"})
_REASONS = {409: "Conflict", 410: "Expired", 429: "TooManyRequests", 500: "InternalError",
            503: "ServiceUnavailable", 504: "Timeout"}


@dataclass
class KubeFault:
    """The next `count` requests with `method` (None: any) whose path matches `path` (a regex searched in
    the path) and, with `watch` set, that are (or are not) watches."""

    method: str | None
    path: str
    status: int
    count: int = 1
    kind: FaultKind = "status"
    retry_after: float | None = None
    watch: bool | None = None
    fired: int = 0

    def matches(self, method: str, path: str, watching: bool) -> bool:
        return (self.count > 0 and (self.method is None or self.method.upper() == method)
                and re.search(self.path, path) is not None and (self.watch is None or self.watch == watching))


@dataclass(frozen=True)
class ProxyRecord:
    """One request through the proxy: when it arrived (wall clock), how long until its answer started."""

    method: str
    path: str
    query: str
    status: int
    time: float
    duration: float
    fault: FaultKind | None = None


def is_watch(request: web.Request) -> bool:
    return request.query.get("watch", "").lower() in ("true", "1")


class KubeProxy(LoopThread):
    """The proxy on `http://127.0.0.1:PORT`, in a thread of its own (see the module docstring)."""

    def __init__(self, upstream: str, *, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.upstream = upstream.rstrip("/")
        self.host = host
        self.port = 0
        self.write_trap: WriteTrap | None = None
        self._ssl = ssl_context
        self._faults: list[KubeFault] = []
        self._log: list[ProxyRecord] = []
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------------------------ lifecycle

    def __enter__(self) -> KubeProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> KubeProxy:
        self._start_loop("kube-proxy", "the Kubernetes proxy")
        return self

    def stop(self) -> None:
        self._stop_loop()

    async def _startup(self) -> None:
        # No pooling across clients' requests: a watch answer is long, and a killed client's requests must
        # not hold connections the next client needs.
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10), auto_decompress=False,
            connector=aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else False, limit=0))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # ------------------------------------------------------------------------------------ control

    def set_write_trap(self, trap: WriteTrap | None) -> None:
        self.write_trap = trap

    def inject_fault(self, method: str | None, path: str, status: int = 500, *, count: int = 1,
                     kind: FaultKind = "status", retry_after: float | None = None,
                     watch: bool | None = None) -> KubeFault:
        """See the module docstring; returns the fault (its `fired` counts the requests it answered)."""
        fault = KubeFault(method, path, status, count, kind, retry_after, watch)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def requests(self, method: str | None = None, path: str | None = None) -> list[ProxyRecord]:
        """The request log; `path` is a regex searched in the path."""
        with self._lock:
            return [r for r in self._log if (method is None or r.method == method.upper())
                    and (path is None or re.search(path, r.path))]

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def write_kubeconfig(self, path: str | Path, *, token: str = "transit-sandbox",
                         namespace: str = "default") -> Path:
        """A kubeconfig whose current context is this proxy, with a bearer `token` (forwarded as is)."""
        return write_kubeconfig(path, self.url, token, namespace=namespace, name="transit-proxy")

    # ------------------------------------------------------------------------------------ serving

    def _take_fault(self, request: web.Request) -> KubeFault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(request.method, request.path, is_watch(request)):
                    fault.count -= 1
                    fault.fired += 1
                    return fault
        return None

    def _record(self, request: web.Request, status: int, wall: float, started: float,
                fault: FaultKind | None = None) -> None:
        with self._lock:
            self._log.append(ProxyRecord(request.method, request.path, request.query_string, status, wall,
                                         time.monotonic() - started, fault))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        wall, started = time.time(), time.monotonic()
        ticket = None
        trap = self.write_trap
        if trap is not None and request.method in WRITE_METHODS:
            ticket = trap.arrive(Write("kubernetes", request.method, request.path))
            if ticket.dropped:
                self._record(request, 0, wall, started)
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=503)
        fault = self._take_fault(request)
        if fault is not None and fault.kind != "reset":
            response = await self._fault_answer(request, fault)
            self._record(request, response.status, wall, started, fault.kind)
            return response
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        assert self._session is not None
        try:
            upstream = await self._session.request(
                request.method, self.upstream + request.path_qs, headers=headers, data=body or None,
                allow_redirects=False)
        except aiohttp.ClientError as exc:
            self._record(request, 502, wall, started)
            return _status_response(502, f"the proxy could not reach the API server: {exc}")
        async with upstream:
            if ticket is not None:
                ticket.applied()
            self._record(request, upstream.status, wall, started, fault.kind if fault else None)
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in _HOP_BY_HOP:
                    response.headers.add(key, value)
            try:
                await response.prepare(request)
                if fault is not None:  # reset: the server applied it; the answer is cut after its first bytes
                    first = await upstream.content.read(16)
                    if first:
                        await response.write(first)
                    if request.transport is not None:
                        request.transport.abort()
                    return response
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
            except (ConnectionResetError, aiohttp.ClientError):
                pass  # the client went away (a killed operator): nobody to answer
            return response

    async def _fault_answer(self, request: web.Request, fault: KubeFault) -> web.StreamResponse:
        if fault.kind == "watch_expired":
            # A watch that resumes from a compacted resourceVersion: HTTP 200, one ERROR event, end.
            response = web.StreamResponse(status=200)
            response.content_type = "application/json"
            await response.prepare(request)
            event = {"type": "ERROR", "object": _status(410, "too old resource version: the watch must list again")}
            await response.write((json.dumps(event) + "\n").encode())
            await response.write_eof()
            return response
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        return _status_response(fault.status, f"injected fault ({fault.status})", headers)


def _status(code: int, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": _REASONS.get(code, "InternalError"), "code": code}


def _status_response(code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=code, text=json.dumps(_status(code, message)), content_type="application/json",
                        headers=headers)
