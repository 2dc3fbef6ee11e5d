"""What every HTTP request leaves behind: a request id (the client's `X-Request-Id` when it is a
sane one, else a new one) returned in the response's headers and carried by every log record of
the request; one log line when it is answered; its count and duration on /metrics; its span.

The log line holds the method, the route template (`/support/csat/{token}`: a link's token is a
credential and stays out), the GraphQL operation name and outcome, the status and the duration,
never a query string, variables or a body."""

from __future__ import annotations

import logging
import re
import time
import uuid

from enishi import logs
from enishi.tracing import Tracing

from .metrics import UNMATCHED_ROUTE, Metrics

log = logging.getLogger("enishi.access")
REQUEST_ID_HEADER = b"x-request-id"
# What a proxy or a client sends: a UUID, a hex or base64url id, a trace id. Anything else (too
# long, spaces, control characters) is replaced, so nothing odd reaches the logs.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,127}")


def request_id_of(headers: dict[bytes, bytes]) -> str:
    incoming = headers.get(REQUEST_ID_HEADER, b"").decode("latin-1")
    return incoming if SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


def route_template(scope) -> str:
    """The path template of the route that answered (starlette leaves the route in the scope)."""
    return getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE


class Observe:
    """ASGI middleware, the app's outermost: the GraphQL endpoint leaves its operation name and
    outcome in the request's state (`graphql_operation`, `graphql_outcome`) for it."""

    def __init__(self, app, metrics: Metrics, tracing: Tracing) -> None:
        self.app, self.metrics, self.tracing = app, metrics, tracing

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        request_id = request_id_of(headers)
        state = scope.setdefault("state", {})
        started = time.perf_counter()
        status = 500  # unless a response starts

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        reset = logs.request_id.set(request_id)
        method = scope["method"]
        carrier = {key.decode("latin-1"): value.decode("latin-1") for key, value in headers.items()}
        try:
            with self.tracing.span(method, {"http.request.method": method}, headers=carrier, server=True) as span:
                try:
                    await self.app(scope, receive, send_with_id)
                finally:
                    if span is not None:
                        template = route_template(scope)
                        span.update_name(f"{method} {template}")
                        span.set_attributes(
                            {"http.route": template, "http.response.status_code": status, "enishi.request_id": request_id}
                        )
        finally:
            seconds = time.perf_counter() - started
            template = route_template(scope)
            operation, outcome = state.get("graphql_operation"), state.get("graphql_outcome")
            self.metrics.observe_http(template, method, status, seconds)
            if outcome is not None:
                self.metrics.observe_graphql(operation, outcome, seconds)
            log.info(
                "request",
                extra={
                    "method": method,
                    "path": template,
                    **({"operation": operation, "outcome": outcome} if outcome is not None else {}),
                    "status": status,
                    "ms": round(seconds * 1000, 1),
                },
            )
            logs.request_id.reset(reset)
