"""`KubeEmulator`: the emulated API server on `http://127.0.0.1:PORT`, in a thread with its own event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from aiohttp import web

from transit_sandbox.kube.http import KubeHttp
from transit_sandbox.kube.store import ApiError, KubeApi

_T = TypeVar("_T")


class KubeEmulator:
    """The emulated API server on `http://127.0.0.1:PORT`, in a thread of its own.

    ```python
    with KubeEmulator() as kube:
        kube.write_kubeconfig(path)          # for kubectl and the kubernetes client
        kube.url                             # for kopf.ConnectionInfo(server=...)
        kube.create({...}); kube.get("v1", "Secret", "name", "default")
    ```
    The in-process helpers run on the emulator's loop, with exactly the HTTP API's semantics.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.api: KubeApi | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> KubeEmulator:
        self._thread = threading.Thread(target=self._serve, name="kube-emulator", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError("the Kubernetes emulator did not start") from self._error
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        self._loop = self._thread = None

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
            self._loop = loop
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _startup(self) -> None:
        self.api = KubeApi()
        http = KubeHttp(self.api, {"major": "1", "minor": "35", "gitVersion": "v1.35.0-transit-sandbox",
                                "gitCommit": "0" * 40, "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                                "goVersion": "go1.25", "compiler": "gc", "platform": "linux/amd64"})
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", http.handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self.api is not None:
            self.api.close_watchers()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------------------------ admin

    def call(self, fn: Callable[[KubeApi], _T]) -> _T:
        """Run `fn(api)` on the emulator's loop and return its result (ApiError propagates)."""
        if self._loop is None or self.api is None:
            raise RuntimeError("the Kubernetes emulator is not running")
        api = self.api

        async def run() -> _T:
            return fn(api)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        def create(api: KubeApi) -> dict[str, Any]:
            rt = api.find(obj.get("apiVersion", ""), obj.get("kind", ""))
            return api.create(rt, obj.get("metadata", {}).get("namespace"), obj)[0]
        return self.call(create)

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create, or merge-patch an existing object with `obj` (like a simple `kubectl apply`)."""
        def apply(api: KubeApi) -> dict[str, Any]:
            rt = api.find(obj.get("apiVersion", ""), obj.get("kind", ""))
            meta = obj.get("metadata", {})
            namespace = (meta.get("namespace") or "default") if rt.namespaced else None
            return api.patch(rt, namespace, meta.get("name", ""), obj, "apply", field_manager="sandbox")[0]
        return self.call(apply)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        def get(api: KubeApi) -> dict[str, Any] | None:
            rt = api.find(api_version, kind)
            try:
                return api.get(rt, namespace if rt.namespaced else None, name)
            except ApiError as exc:
                if exc.code == 404:
                    return None
                raise
        return self.call(get)

    def list_objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        def list_(api: KubeApi) -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = api.list_objects(api.find(api_version, kind), namespace)["items"]
            return items
        return self.call(list_)

    def write_kubeconfig(self, path: str | Path, namespace: str = "default") -> Path:
        """A kubeconfig whose current context is this emulator (token auth, not checked)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "transit-sandbox", "preferences": {},
            "clusters": [{"name": "transit-sandbox", "cluster": {"server": self.url}}],
            "users": [{"name": "transit-sandbox", "user": {"token": "transit-sandbox"}}],
            "contexts": [{"name": "transit-sandbox", "context": {"cluster": "transit-sandbox",
                                                                 "user": "transit-sandbox",
                                                                 "namespace": namespace}}],
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path
