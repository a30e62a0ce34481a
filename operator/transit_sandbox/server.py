"""SandboxCloud: the emulated Azure Resource Manager and Databricks account API over HTTPS on 127.0.0.1.

Two aiohttp servers run on one event loop in a background thread, so synchronous SDK clients in the caller's
thread can talk to them: ARM on `arm_url`, Databricks on `databricks_url` (its own port: databricks-sdk
derives everything from the host root, starting with `/.well-known/databricks-config`). Both use a
certificate from a CA generated at start (`ca_bundle`) and accept one static bearer token (`token`).

ARM requests pass, in order: authentication (401 `AuthenticationFailed` / `InvalidAuthenticationToken`),
injected faults (`admin.inject_fault`), then the resource logic (`arm.routing.handle`) under the store lock
in a worker thread. Every request is logged (`admin.requests()`), with its bodies; with
`check_conformance`, every exchange is also judged against the Azure REST specs (`admin.take_violations()`,
see `conformance.py`). `POST /_sandbox/admin/{method}` (same
token) calls the `Admin` method of that name with the JSON body as keyword arguments.

With a `state_dir`, ARM state is written to `arm.json` after every write and the Databricks state to
`databricks.json`; both are loaded at start, with the CA and the token, so a restarted emulator serves the
same cloud.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web

from .arm import compute, network, privatedns, routing
from .arm.core import Arm, ArmError, Response
from .arm.faults import Admin, RequestRecord
from .arm.privatelink import ArmPrivateLinkBroker, advance_links
from .connection_faults import cut_answer
from .executor import ConfigExecutor, InstanceExecutor
from .limits import BodyTooLarge, load_json, read_limited
from .tls import create_certificates
from .traps import WRITE_METHODS, Ticket, Write, WriteTrap

# A bound on request bodies so a hostile client cannot exhaust the emulator's memory. UNCONFIRMED: the
# limit ARM itself applies to these APIs; the bodies the operator sends are kilobytes.
MAX_ARM_REQUEST_BYTES = 4 * 1024 * 1024
DEFAULT_SUBSCRIPTION = "2b5e2c1a-7f4d-4c59-9a8e-5a0d1c9e0001"


def build_arm(executor: InstanceExecutor | None = None, state_file: Path | None = None) -> Arm:
    arm = Arm(executor, state_file)
    network.register(arm)
    compute.register(arm)
    privatedns.register(arm)
    arm.tick_hooks.append(advance_links)
    arm.load()
    if isinstance(executor, ConfigExecutor) and executor.backend_probe is None:
        def answers(address: str, port: int) -> bool:  # what HAProxy's check finds, from the ARM state
            with arm.lock:
                return network.backend_address_health(arm, address, port)[0] == "Up"

        executor.backend_probe = answers
    return arm


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    headers = {"x-ms-request-id": str(uuid.uuid4()), **(headers or {})}
    if body is None:
        return web.Response(status=status, headers=headers)
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)


class SandboxCloud:
    """Context manager (or `start()`/`stop()`) around the emulated clouds; see the module docstring."""

    def __init__(self, state_dir: str | Path | None = None, executor: InstanceExecutor | None = None, *,
                 port: int = 0, token: str | None = None, check_conformance: bool = False) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="transit-sandbox-")
            self.dir = Path(self._tmp.name)
            state_file: Path | None = None
        else:
            self.dir = Path(state_dir)
            self.dir.mkdir(parents=True, exist_ok=True)
            state_file = self.dir / "arm.json"
        self.persistent = state_dir is not None
        self.token = token or self._load_token()
        self.subscription_id = DEFAULT_SUBSCRIPTION
        self.arm = build_arm(executor, state_file)
        self.admin = Admin(self.arm, check_conformance)
        self.broker = ArmPrivateLinkBroker(self.arm)
        self.databricks: Any = None  # transit_sandbox.databricks.DatabricksState, when that module is there
        self._port = port
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="arm")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runners: list[web.AppRunner] = []
        self.write_trap: WriteTrap | None = None  # `set_write_trap`
        self.arm_url = ""
        self.databricks_url = ""
        self.ca_bundle = ""

    def _load_token(self) -> str:
        path = self.dir / "token"
        if self._tmp is None and path.exists():
            return path.read_text().strip()
        token = secrets.token_urlsafe(24)
        if self._tmp is None:
            path.write_text(token)
            path.chmod(0o600)
        return token

    # lifecycle ------------------------------------------------------------------------------------------
    def __enter__(self) -> SandboxCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> SandboxCloud:
        certs = create_certificates(self.dir / "tls")
        self.ca_bundle = str(certs.ca_pem)
        ssl_context = certs.server_context()
        ready = threading.Event()
        errors: list[BaseException] = []

        async def serve() -> None:
            arm_runner = web.AppRunner(self._arm_app(), access_log=None)
            await arm_runner.setup()
            site = web.TCPSite(arm_runner, "127.0.0.1", self._port, ssl_context=ssl_context)
            await site.start()
            self._runners.append(arm_runner)
            self.arm_url = f"https://127.0.0.1:{_port_of(arm_runner)}"
            dbx_app = self._databricks_app()
            if dbx_app is not None:
                dbx_runner = web.AppRunner(dbx_app, access_log=None)
                await dbx_runner.setup()
                await web.TCPSite(dbx_runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
                self._runners.append(dbx_runner)
                self.databricks_url = f"https://127.0.0.1:{_port_of(dbx_runner)}"

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(serve())
            except BaseException as exc:  # surfaced to start()'s caller
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="sandbox-cloud", daemon=True)
        self._thread.start()
        ready.wait(30)
        if errors:
            raise errors[0]
        return self

    async def _shutdown(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None
        self._save_databricks()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.arm.run_command_pool is not None:
            self.arm.run_command_pool.shutdown(wait=False, cancel_futures=True)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def set_write_trap(self, trap: WriteTrap | None) -> None:
        """Count ARM and Databricks writes together and act at the Nth (`transit_sandbox.traps`); None: off.
        A write trapped `before` is never applied: its connection is closed without an answer."""
        self.write_trap = trap

    def _arrive(self, service: str, request: web.Request) -> Ticket | None:
        """The write trap's ticket for a write request (None for reads, or without a trap)."""
        trap = self.write_trap
        if trap is None or request.method not in WRITE_METHODS:
            return None
        return trap.arrive(Write(service, request.method, request.path))

    # ARM ------------------------------------------------------------------------------------------------
    def _arm_app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started, wall = time.monotonic(), time.time()
        api_version = request.query.get("api-version")
        response: web.Response
        sent: Any = None
        ticket = fault = None
        try:
            self._authenticate(request)
            if request.path.startswith("/_sandbox/"):
                return await self._admin(request)
            ticket = self._arrive("arm", request)
            if ticket is not None and ticket.dropped:
                return _dropped(request)
            fault = self.admin.take_fault(request.method, request.path)
            if fault is not None and not fault.reset:
                raise fault.error()
            try:
                raw = await read_limited(request, MAX_ARM_REQUEST_BYTES)
            except BodyTooLarge:
                # UNCONFIRMED code and message (see MAX_ARM_REQUEST_BYTES).
                raise ArmError(413, "RequestEntityTooLarge",
                               f"The request content is larger than {MAX_ARM_REQUEST_BYTES} bytes.") from None
            try:
                body = load_json(raw) if raw else None
                sent = load_json(raw) if raw else None  # as sent: the handlers may change `body`
            except ValueError as exc:
                raise ArmError(400, "InvalidRequestContent", f"The request content was invalid: {exc}") from exc
            headers = {k.lower(): v for k, v in request.headers.items()}
            base_url = f"{request.scheme}://{request.host}"
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(
                self._pool, self._dispatch, request.method, request.path, api_version, headers, body, base_url,
                dict(request.query),
            )
            response = _json(result.status, result.body, result.headers)
        except ArmError as err:
            response = _json(err.status, err.body(), err.headers)
        except Exception as exc:  # an emulator bug must still look like an ARM error to the client
            response = _json(500, {"error": {"code": "InternalServerError", "message": f"{type(exc).__name__}: {exc}"}})
        if ticket is not None:
            ticket.applied()  # answered (or refused) by the resource logic, not sent yet
        if not request.path.startswith("/_sandbox/"):
            answered = json.loads(response.text) if response.text else None
            self.admin.record(RequestRecord(request.method, request.path, api_version, response.status,
                                            time.monotonic() - started, wall, sent, answered,
                                            {k: v for k, v in response.headers.items() if k != "Content-Type"},
                                            injected=fault is not None))
        if fault is not None and fault.reset:
            return await cut_answer(request, response)
        return response

    def _dispatch(self, method: str, path: str, api_version: str | None, headers: dict[str, str], body: Any,
                  base_url: str, query: dict[str, str]) -> Response:
        with self.arm.lock:
            self.arm.base_url = base_url
            self.arm.tick()
            result = routing.handle(self.arm, method, path, api_version, headers, body, query)
            if method != "GET":
                self.arm.save()
            return result

    def _authenticate(self, request: web.Request) -> None:
        header = request.headers.get("Authorization")
        if not header:
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        if header != f"Bearer {self.token}":
            raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.")

    async def _admin(self, request: web.Request) -> web.Response:
        parts = request.path.strip("/").split("/")
        if len(parts) != 3 or parts[1] != "admin" or request.method != "POST":
            raise ArmError(404, "NotFound", f"No sandbox endpoint {request.method} {request.path}.")
        raw = await read_limited(request)
        kwargs = load_json(raw) if raw else {}
        try:
            result = self.admin.call_remote(parts[2], kwargs)
        except (KeyError, TypeError, ValueError) as exc:
            raise ArmError(400, "BadSandboxRequest", str(exc)) from exc
        return _json(200, {"result": result})

    # Databricks -----------------------------------------------------------------------------------------
    def _databricks_app(self) -> web.Application | None:
        try:
            from .databricks import DatabricksState, create_databricks_app
        except ImportError:  # the Databricks emulator is optional for ARM-only use
            return None
        path = self.dir / "databricks.json"
        if self.persistent and path.exists():
            self.databricks = DatabricksState.from_dict(json.loads(path.read_text()))
        else:
            self.databricks = DatabricksState()
        app = create_databricks_app(self.broker, token=self.token, state=self.databricks)

        @web.middleware
        async def persist(request: web.Request, handler: Any) -> web.StreamResponse:
            response = await handler(request)
            if request.method != "GET":
                self._save_databricks()
            return response

        @web.middleware
        async def trap(request: web.Request, handler: Any) -> web.StreamResponse:
            ticket = None if request.path.endswith("/.well-known/databricks-config") else \
                self._arrive("databricks", request)
            if ticket is not None and ticket.dropped:
                return _dropped(request)
            response = await handler(request)
            if ticket is not None:
                ticket.applied()
            return response

        app.middlewares.insert(0, trap)
        app.middlewares.append(persist)
        return app

    def _save_databricks(self) -> None:
        if self.persistent and self.databricks is not None:
            (self.dir / "databricks.json").write_text(json.dumps(self.databricks.to_dict()))

    @property
    def databricks_account_id(self) -> str | None:
        return None if self.databricks is None else self.databricks.account_id


def _dropped(request: web.Request) -> web.Response:
    """A write the trap kept from being applied: the connection closes with no answer (what the client
    sees when the server dies mid-request)."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=503)


def _port_of(runner: web.AppRunner) -> int:
    server = runner.addresses[0]
    return int(server[1])


def serve_forever(port: int = 0, state_dir: str | None = None, dataplane: bool = False, timing: str = "fast",
                  time_scale: float = 1.0) -> int:
    """`transit-operator emulator`: serve until SIGINT/SIGTERM; print one JSON line with the endpoints.

    `timing`/`time_scale`: the operations' durations (`transit_sandbox.timing`); run the operator with the
    same `--time-scale`.

    VMSS instances answer run-command like the HAProxy apply script (`ConfigExecutor`), so an operator
    pointed at the emulator converges; with `dataplane` they are network namespaces running real HAProxy.
    """
    executor: InstanceExecutor
    if dataplane:
        from .dataplane import NetnsExecutor, dataplane_unavailable_reason

        reason = dataplane_unavailable_reason()
        if reason:
            print(f"transit-operator emulator: --dataplane is unavailable: {reason}", file=sys.stderr)
            return 2
        executor = NetnsExecutor()
    else:
        executor = ConfigExecutor()
    cloud = SandboxCloud(state_dir, executor, port=port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    cloud.start()
    from .timing import apply_profile

    apply_profile(cloud, timing, time_scale)
    try:
        print(json.dumps({"arm": cloud.arm_url, "databricks": cloud.databricks_url or None, "caBundle": cloud.ca_bundle,
                          "token": cloud.token, "subscriptionId": cloud.subscription_id,
                          "accountId": cloud.databricks_account_id}), flush=True)
        stop.wait()
    finally:
        cloud.stop()
        close = getattr(executor, "close", None)
        if close is not None:
            close()  # NetnsExecutor: remove the instances' network namespaces
    return 0
