"""The server `enishi serve` runs (`enishi.cli.run_server`), plus one route, `GET /test/hold`, that
logs "holding" and then answers only once the process receives SIGUSR1: a request kept in flight
for exactly as long as the graceful-shutdown test wants."""

import argparse
import asyncio
import logging
import signal

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from enishi import hookimpl, logs
from enishi.cli import run_server
from enishi.graphql.app import create_app
from enishi.runtime import Runtime

log = logging.getLogger("enishi.test")


class Holding:
    @hookimpl
    def enishi_http_routes(self):
        return [Route("/test/hold", self.hold, methods=["GET"])]

    async def hold(self, _request: Request) -> PlainTextResponse:
        released = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, released.set)
        log.info("holding")
        await released.wait()
        return PlainTextResponse("released")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    runtime = Runtime(extra_plugins=[("holding", Holding())])
    logs.configure(runtime.settings.log_level, runtime.settings.log_format)
    run_server(create_app(runtime), runtime.settings, "127.0.0.1", parser.parse_args().port)
