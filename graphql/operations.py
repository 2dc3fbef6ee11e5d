"""The endpoints a process manager, a load balancer and a monitoring system call (docs/operations.md):
GET /healthz (the process answers: no database), GET /readyz (it can serve: the database answers
and holds every migration of the installed code), GET /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from enishi.db.migrate import MigrationHeads
from enishi.deployment import ConfigurationWatch
from enishi.gauges import read_gauges
from enishi.runtime import Runtime

from .errors import error_response
from .metrics import MEDIA_TYPE, Metrics

log = logging.getLogger("enishi.operations")
# A readiness probe must answer even when the database does not (asyncpg waits 60 s to connect).
READY_TIMEOUT_SECONDS = 5.0
PROXY_HEADERS = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


class Operations:
    def __init__(self, runtime: Runtime, metrics: Metrics, watch: ConfigurationWatch | None = None) -> None:
        self.runtime, self.metrics, self.watch = runtime, metrics, watch
        self.migrations = MigrationHeads(runtime)

    def routes(self) -> list[Route]:
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.scrape, methods=["GET"]),
        ]

    async def healthz(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, _request: Request) -> Response:
        reasons = []
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS), self.runtime.engine.connect() as connection:
                missing = await self.migrations.missing(connection)
        except TimeoutError:
            reasons.append(f"the database did not answer within {READY_TIMEOUT_SECONDS:g} s")
        except Exception as exc:  # noqa: BLE001 - readiness reports the failure, it must not raise
            log.warning("readiness: database unreachable", extra={"error": type(exc).__name__})
            reasons.append("the database cannot be reached")
        else:
            if missing:
                branches = ", ".join(sorted({self.migrations.branch_of(head) for head in missing}))
                reasons.append(f"migrations not applied for: {branches} (run `enishi db upgrade`)")
            mismatch = await self.watch.refusal() if self.watch is not None else None
            if mismatch is not None:
                reasons.append(mismatch)
        plugins = [info.name for info in self.runtime.plugins.installed() if info.enabled]
        if reasons:
            return JSONResponse({"status": "unavailable", "reasons": reasons, "plugins": plugins}, status_code=503)
        return JSONResponse({"status": "ready", "plugins": plugins})

    async def scrape(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        readings = await read_gauges(self.runtime, READY_TIMEOUT_SECONDS)
        return Response(self.metrics.exposition(readings), media_type=MEDIA_TYPE)

    def _refusal(self, request: Request) -> Response | None:
        """With ENISHI_METRICS_TOKEN: the request must bear it. Without: only a client on this
        machine, reaching the server directly (a request a proxy forwarded may come from anywhere)."""
        token = self.runtime.settings.metrics_token
        if token:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
                return None
            return error_response(
                401,
                "send ENISHI_METRICS_TOKEN as `Authorization: Bearer <token>`",
                "UNAUTHENTICATED",
                headers={"WWW-Authenticate": "Bearer"},
            )
        host = request.client.host if request.client else ""
        try:
            local = ipaddress.ip_address(host).is_loopback
        except ValueError:
            local = False
        if local and not any(name in PROXY_HEADERS for name, _ in request.scope["headers"]):
            return None
        return error_response(
            403, "/metrics answers this machine only; set ENISHI_METRICS_TOKEN to scrape it from elsewhere", "FORBIDDEN"
        )
