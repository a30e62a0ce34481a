"""`LoopThread`: an aiohttp server (or anything async) in a daemon thread with an event loop of its own, so
clients in any other loop or thread can use it. The Kubernetes emulator and the Kubernetes proxy are both.

A subclass implements `_startup()` (bind, set `port`) and `_shutdown()`; `_start_loop` waits for the start
and raises what it raised, `_stop_loop` runs the shutdown in the loop and joins the thread.
"""

from __future__ import annotations

import asyncio
import threading


class LoopThread:
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    async def _startup(self) -> None:
        raise NotImplementedError

    async def _shutdown(self) -> None:
        raise NotImplementedError

    def _start_loop(self, name: str, what: str) -> None:
        ready = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._startup())
                self._loop = loop
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name=name, daemon=True)
        self._thread.start()
        ready.wait(timeout=30)
        if errors:
            raise RuntimeError(f"{what} did not start") from errors[0]

    def _stop_loop(self) -> bool:
        """Shut down and join; False when it was not running."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return False
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        self._loop = self._thread = None
        return True
