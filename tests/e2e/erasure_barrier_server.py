"""The server `enishi serve` runs, plus one plugin whose part of the first erasure stops and waits
for the test: the race test writes about the person right then, after the erasure took them out of
use and the support plugin's part ran, before the core's part.

`GET /race/paused` answers once the erasure waits there; `POST /race/release?queued=N` lets it go
on. On SQLite the writes cannot run beside the waiting part (it holds the one writer's turn): they
queue in the runtime's `writer_queue`, and the release waits until N of them wait there, so they
are the next to write, right after the erasure."""

import argparse
import asyncio

import uvicorn
from starlette.responses import Response
from starlette.routing import Route

from enishi import ErasureReport, hookimpl
from enishi.graphql.app import create_app
from enishi.runtime import Runtime

QUEUE_CHECK_SECONDS = 0.01


class ErasureBarrier:
    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        self.paused, self.released = asyncio.Event(), asyncio.Event()

    @hookimpl(trylast=True)  # after every other plugin's part, before the core's and the privacy plugin's (always last)
    async def enishi_subject_erase(self, uow, subject):
        if not self.paused.is_set():
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
        assert self.runtime is not None, "set once the runtime is made"
        queue = self.runtime.writer_queue  # None on PostgreSQL: the writes ran beside the erasure
        # The writes are on their way (HTTP, parsing, checks). The queue tells no one when a writer
        # arrives (a count it keeps for readers, no event for a test to hang on): read it until they are.
        while queue is not None and queue.waiting < int(request.query_params["queued"]):  # noqa: ASYNC110
            await asyncio.sleep(QUEUE_CHECK_SECONDS)
        self.released.set()
        return Response(status_code=204)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    barrier = ErasureBarrier()
    barrier.runtime = Runtime(extra_plugins=[("barrier", barrier)])
    uvicorn.run(create_app(barrier.runtime), host="127.0.0.1", port=port, log_config=None, access_log=False)
