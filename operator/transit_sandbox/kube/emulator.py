"""`KubeEmulator`: the emulated API server on `http://127.0.0.1:PORT`, in a thread with its own event loop."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from aiohttp import web

from transit_sandbox.kube.client import KubeClient, write_kubeconfig
from transit_sandbox.kube.http import KubeHttp
from transit_sandbox.kube.store import KubeApi
from transit_sandbox.loop_thread import LoopThread

# The emulator checks no credentials; clients send this token because kubeconfigs need a user.
TOKEN = "transit-sandbox"


class KubeEmulator(LoopThread):
    """The emulated API server on `http://127.0.0.1:PORT`, in a thread of its own.

    ```python
    with KubeEmulator() as kube:
        kube.kubeconfig                      # for kubectl, the kubernetes client, kopf (removed on stop)
        kube.client().apply({...})           # transit_sandbox.kube.client.KubeClient over HTTP
    ```
    Same shape as `RealApiServer`, so callers choose a server and otherwise do not care which.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.api: KubeApi | None = None
        self._runner: web.AppRunner | None = None
        self._dir: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    description = "embedded emulator"

    @property
    def kubeconfig(self) -> Path:
        assert self._dir is not None, "not started"
        return self._dir / "kubeconfig"

    def client(self) -> KubeClient:
        return KubeClient(self.kubeconfig)

    def write_kubeconfig(self, path: str | Path, *, token: str | None = None, namespace: str = "default") -> Path:
        """A kubeconfig for this emulator (any token is accepted)."""
        return write_kubeconfig(path, self.url, token or TOKEN, namespace=namespace)

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> KubeEmulator:
        self._start_loop("kube-emulator", "the Kubernetes emulator")
        self._dir = Path(tempfile.mkdtemp(prefix="transit-kube-emulator-"))
        self.write_kubeconfig(self.kubeconfig)
        return self

    def stop(self) -> None:
        if not self._stop_loop():
            return
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

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
