"""The server `enishi serve` runs, plus one plugin whose part of the first erasure stops and waits
for the test: the race test writes about the person right then, after the erasure took them out of
use and the support plugin's part ran, before the core's part.

`GET /race/paused` answers once the erasure waits there; `POST /race/release?queued=N` lets it go
on. On SQLite the writes cannot run beside the waiting part (it holds the one writer slot): they
queue in this process's writer queue, and the release waits until N of them are queued, so they
are the next to write, between this part and the core's."""

import argparse
import asyncio

import uvicorn
from starlette.responses import Response
from starlette.routing import Route

from enishi import ErasureReport, hookimpl
from enishi.graphql.app import create_app
from enishi.runtime import Runtime


class WatchedWriterQueue(asyncio.Lock):
    """The runtime's writer queue (SQLite), counting the writers that arrive to find it taken."""

    def __init__(self) -> None:
        super().__init__()
        self.queued = 0
        self.arrived = asyncio.Condition()

    async def acquire(self):
        if self.locked():
            self.queued += 1
            async with self.arrived:
                self.arrived.notify_all()
        return await super().acquire()


class ErasureBarrier:
    def __init__(self, runtime_queue: WatchedWriterQueue | None) -> None:
        self.queue = runtime_queue
        self.paused, self.released = asyncio.Event(), asyncio.Event()
        self.queued_before_pause = 0

    @hookimpl(trylast=True)  # after every other plugin's part, before the core's and the privacy plugin's (always last)
    async def enishi_subject_erase(self, uow, subject):
        if not self.paused.is_set():
            self.queued_before_pause = self.queue.queued if self.queue else 0
            self.paused.set()
            await self.released.wait()
        return ErasureReport("barrier")

    @hookimpl
    def enishi_http_routes(self):
        return [
            Route("/race/paused", self._wait_for_pause, methods=["GET"]),
            Route("/race/release", self._release, methods=["POST"]),
        ]

    async def _wait_for_pause(self, _request):
        await self.paused.wait()
        return Response(status_code=204)

    async def _release(self, request):
        if self.queue is not None:
            expected = self.queued_before_pause + int(request.query_params["queued"])
            async with self.queue.arrived:
                await self.queue.arrived.wait_for(lambda: self.queue.queued >= expected)
        self.released.set()
        return Response(status_code=204)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    barrier = ErasureBarrier(None)
    runtime = Runtime(extra_plugins=[("barrier", barrier)])
    if runtime._write_gate is not None:  # SQLite
        barrier.queue = runtime._write_gate = WatchedWriterQueue()
    uvicorn.run(create_app(runtime), host="127.0.0.1", port=port, log_config=None, access_log=False)
