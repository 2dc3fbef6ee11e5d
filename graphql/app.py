"""The HTTP surface: `/graphql` per the GraphQL-over-HTTP spec, an unauthenticated `/health`, and
the routes the core and the plugins contribute (`enishi_http_routes`).

A hand-written view rather than strawberry's, so that authentication, body limits, content
negotiation and status codes are exactly what the spec and our tests say."""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from typing import Any

from graphql import DocumentNode, ExecutionResult, FieldNode, OperationDefinitionNode
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import ExecutionResult as StrawberryExecutionResult
from strawberry.types.graphql import OperationType

from enishi.auth import ANONYMOUS, authenticate
from enishi.deployment import ConfigurationWatch
from enishi.errors import TokenExpired
from enishi.runtime import Runtime
from enishi.throttle import client_address
from enishi.tracing import Tracing

from .as_viewer import execute_as
from .console import console_routes
from .errors import error_response
from .ide import ASSETS_PATH, GraphiQL
from .limits import MAX_JSON_DEPTH, QueryLimits, json_too_deep, parse_document, too_many_aliases_to_parse
from .metrics import OTHER, UNNAMED, Metrics, OperationLabels
from .observe import Observe
from .operations import Operations
from .schema import build_schema, present_result, public_root_fields

log = logging.getLogger("enishi.http")
GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
MULTIPART = "multipart/form-data"
MAX_UPLOAD_FILES = 5


class _RequestError(Exception):
    def __init__(self, status: int, message: str, code: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


def _negotiate(request: Request) -> str:
    """application/graphql-response+json when the client accepts it, else application/json."""
    accept = request.headers.get("accept", "")
    if not accept:
        return JSON
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if GRAPHQL_RESPONSE in types:
        return GRAPHQL_RESPONSE
    if JSON in types or "*/*" in types or "application/*" in types:
        return JSON
    raise _RequestError(406, "accept application/graphql-response+json or application/json", "NOT_ACCEPTABLE")


def _load_json(raw: bytes | str, what: str):
    """A JSON value of the request, refused with 400 when it is not JSON or nests too deeply for
    json.loads to be safe (checked first, by a linear scan)."""
    try:
        raw = raw.encode("utf-8") if isinstance(raw, str) else raw
        if json_too_deep(raw):
            raise _RequestError(400, f"{what} nests arrays and objects more than {MAX_JSON_DEPTH} levels deep", "JSON_TOO_DEEP")
        return json.loads(raw.decode("utf-8"))
    except (UnicodeError, ValueError):
        raise _RequestError(400, f"{what} is not valid UTF-8 JSON", "BAD_REQUEST") from None


async def _read_params(request: Request) -> dict:
    if request.method == "GET":
        # An empty optional parameter is the same as none (GraphQL over HTTP, "GET").
        params = {key: value for key, value in request.query_params.items() if value != ""}
        for key in ("variables", "extensions"):
            if key in params:
                params[key] = _load_json(params[key], f"`{key}`")
        return params
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == MULTIPART:
        return await _read_multipart(request)
    if content_type != JSON:
        raise _RequestError(
            415, "send the request as application/json (or multipart/form-data for uploads)", "UNSUPPORTED_MEDIA_TYPE"
        )
    params = _load_json(await request.body(), "the body")  # BodyLimit bounds its size
    if not isinstance(params, dict):
        raise _RequestError(400, "the body must be a JSON object", "BAD_REQUEST")
    return params


async def _read_multipart(request: Request) -> dict:
    """A GraphQL multipart request (github.com/jaydenseric/graphql-multipart-request-spec): the
    `operations` JSON, a `map` from file field to the variable paths it fills, then the files.
    BodyLimit bounds it by `max_upload_bytes`."""
    from starlette.datastructures import UploadFile

    try:
        form = await request.form(max_files=MAX_UPLOAD_FILES, max_fields=MAX_UPLOAD_FILES + 2)
    except _TooLarge:
        raise  # BodyLimit answers 413
    except Exception:  # noqa: BLE001 - python-multipart raises several kinds for a malformed body
        raise _RequestError(400, "the multipart body cannot be read", "BAD_REQUEST") from None
    operations, mapping = form.get("operations"), form.get("map")
    if not isinstance(operations, str) or not isinstance(mapping, str):
        raise _RequestError(400, "a multipart request needs the `operations` and `map` fields first", "BAD_REQUEST")
    params, files = _load_json(operations, "`operations`"), _load_json(mapping, "`map`")
    if not isinstance(params, dict) or not isinstance(files, dict):
        raise _RequestError(400, "`operations` and `map` must be JSON objects (batches are not supported)", "BAD_REQUEST")
    for field_name, paths in files.items():
        upload = form.get(field_name)
        if not isinstance(upload, UploadFile) or not isinstance(paths, list):
            raise _RequestError(400, f"`map` names {field_name!r}, which is not a file of the request", "BAD_REQUEST")
        for path in paths:
            _put(params, path, upload)
    return params


def _put(params: dict, path, value) -> None:
    """Set `variables.input.upload` (a dotted path, list indexes as numbers) to the file."""
    parts = path.split(".") if isinstance(path, str) else []
    if len(parts) < 2 or parts[0] != "variables":
        raise _RequestError(400, "`map` paths point into `variables`", "BAD_REQUEST")
    target: Any = params
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        key: Any = int(part) if isinstance(target, list) and part.isdigit() else part
        try:
            if last:
                target[key] = value
            else:
                target = target[key]
        except (KeyError, IndexError, TypeError):
            raise _RequestError(400, f"`map` path {path!r} is not in `operations`", "BAD_REQUEST") from None


def _storable(value) -> bool:
    """Whether every string in a request can be stored: no NUL characters (PostgreSQL refuses
    them in text and JSON) and no lone surrogates (not encodable as UTF-8). The request's nesting
    is bounded (`_load_json`), and so is this recursion."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def _check_params(params: dict) -> tuple[str, dict | None, str | None]:
    if not _storable(params):
        raise _RequestError(400, "the request holds NUL characters or invalid Unicode", "BAD_REQUEST")
    query, variables, operation_name = params.get("query"), params.get("variables"), params.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise _RequestError(400, "`query` must be a non-empty string", "BAD_REQUEST")
    if variables is not None and not isinstance(variables, dict):
        raise _RequestError(400, "`variables` must be an object", "BAD_REQUEST")
    if operation_name is not None and not isinstance(operation_name, str):
        raise _RequestError(400, "`operationName` must be a string", "BAD_REQUEST")
    extensions = params.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise _RequestError(400, "`extensions` must be an object", "BAD_REQUEST")
    return query, variables, operation_name


def _operation(document: DocumentNode | None, operation_name: str | None) -> OperationDefinitionNode | None:
    """The operation the request runs: the one `operationName` names, or the document's only one."""
    if document is None:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((d for d in operations if d.name and d.name.value == operation_name), None)


def _only_public_fields(operation: OperationDefinitionNode | None, public: frozenset[str]) -> bool:
    """Whether the operation selects only root fields marked public (a request without a token
    may run it; anything else, or a document that does not parse, is answered 401)."""
    if not public or operation is None:
        return False
    selections = operation.selection_set.selections
    return all(isinstance(s, FieldNode) and (s.name.value in public or s.name.value == "__typename") for s in selections)


def _outcome(status: int, body: dict | None = None) -> str:
    """ok; user_error: the request was refused (4xx, a request error) or a payload holds
    userErrors; error: anything internal."""
    errors = (body or {}).get("errors") or ()
    if status >= 500 or any(error.get("extensions", {}).get("code") == "INTERNAL" for error in errors):
        return "error"
    if status >= 400 or errors:
        return "user_error"
    data = (body or {}).get("data") or {}
    if any(isinstance(payload, dict) and payload.get("userErrors") for payload in data.values()):
        return "user_error"
    return "ok"


NO_TOKEN = "send an API token as `Authorization: Bearer <token>`"


def _unauthenticated(message: str) -> _RequestError:
    return _RequestError(401, message, "UNAUTHENTICATED", {"WWW-Authenticate": "Bearer"})


async def _viewer(runtime: Runtime, header: str):
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated(NO_TOKEN)
    try:
        async with runtime.read_session() as session:
            viewer = await authenticate(session, runtime.permissions, token.strip(), runtime.clock.now())
    except TokenExpired as expired:
        raise _RequestError(401, str(expired), expired.code, {"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    if viewer is None:
        raise _unauthenticated("the API token is not valid")
    return viewer


def _result_response(result: ExecutionResult | StrawberryExecutionResult, parsed: bool, media_type: str, state) -> Response:
    """The response to an executed (or refused) request; its outcome goes to `state` for the
    request's log line and metrics."""
    body = present_result(result)
    # An error raised before execution (syntax, validation, limits, operation, variables) has no
    # path and leaves no `data` (GraphQL spec, "Response Format"); a field error keeps `data`.
    if result.data is None and result.errors and all(error.path is None for error in result.errors):
        del body["data"]
        # GraphQL over HTTP: 400 for a document that does not parse, 422 for the other request
        # errors; application/json (legacy clients) keeps 200 for any GraphQL response.
        status = 200 if media_type == JSON else 422 if parsed else 400
    else:
        status = 200
    state.graphql_outcome = _outcome(status, body)
    return Response(json.dumps(body, ensure_ascii=False, default=str), status_code=status, media_type=media_type)


def create_app(runtime: Runtime, *, watch_configuration: bool = False) -> Starlette:
    """The app serving `runtime`, its GraphQL schema built here, once, from the enabled plugins (a
    broken contribution stops start-up rather than the first request); `app.state.schema`."""
    settings = runtime.settings
    schema = build_schema(runtime)
    public = public_root_fields(schema)
    limits = QueryLimits.from_settings(settings)
    graphiql = None if settings.is_production else GraphiQL.load()
    metrics = Metrics(runtime.engine)
    tracing = Tracing(settings.tracing, runtime.engine)

    async def graphql_endpoint(request: Request) -> Response:
        if request.method == "GET" and "text/html" in request.headers.get("accept", "") and graphiql is not None:
            return graphiql.page()
        state = request.state
        media_type = JSON
        try:
            media_type = _negotiate(request)
            query, variables, operation_name = _check_params(await _read_params(request))
            state.graphql_operation = OTHER if operation_name is not None else UNNAMED  # until the document names it
            if too_many_aliases_to_parse(query, settings.max_aliases):
                raise _RequestError(400, f"far more than {settings.max_aliases} aliases", "TOO_MANY_ALIASES")
            document = parse_document(query, settings.max_tokens)  # None if it does not parse: execution says why
            operation = _operation(document, operation_name)
            if operation is not None:
                state.graphql_operation = OperationLabels.clean(operation.name.value if operation.name else None)
            header = request.headers.get("authorization", "")
            # Without a token only public operations run, and nothing else is even analysed.
            if not header and not _only_public_fields(operation, public):
                raise _unauthenticated(NO_TOKEN)
            # Shape and cost read only the document: an abusive query is refused before any SQL,
            # the token lookup included.
            refusal = limits.refusal(document, operation_name, variables) if document is not None else None
            if refusal is not None:
                return _result_response(ExecutionResult(data=None, errors=[refusal]), True, media_type, state)
            viewer = await _viewer(runtime, header) if header else ANONYMOUS
        except _RequestError as error:
            state.graphql_outcome = _outcome(error.status)
            return error_response(error.status, error.message, error.code, media_type, error.headers)
        allowed = (OperationType.QUERY,) if request.method == "GET" else (OperationType.QUERY, OperationType.MUTATION)
        kind = operation.operation.value if operation is not None else "operation"
        name = state.graphql_operation
        try:
            with tracing.span(f"{kind} {name}", {"graphql.operation.type": kind, "graphql.operation.name": name}):
                result = await execute_as(
                    runtime, schema, viewer, query, variables, operation_name, allowed, client_address(request)
                )
        except InvalidOperationTypeError:
            state.graphql_outcome = _outcome(405)
            return error_response(405, "mutations must be sent with POST", "METHOD_NOT_ALLOWED", media_type, {"Allow": "POST"})
        except CannotGetOperationTypeError:
            state.graphql_outcome = _outcome(400)
            return error_response(400, "name one operation of the document in `operationName`", "BAD_REQUEST", media_type)
        return _result_response(result, document is not None, media_type, state)

    async def health(_request: Request) -> Response:
        try:
            async with runtime.read_session() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - the health check reports, it must not raise
            log.warning("health check failed: %s", type(exc).__name__)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(_app):
        yield
        await runtime.close()

    watch = ConfigurationWatch(runtime) if watch_configuration else None
    routes: list[BaseRoute] = [
        Route("/graphql", graphql_endpoint, methods=["GET", "POST"]),
        Route("/health", health, methods=["GET"]),
        *Operations(runtime, metrics, watch).routes(),
        *(graphiql.routes() if graphiql is not None else ()),
    ]
    routes += [route for _, route in runtime.plugins.contributions("enishi_http_routes")]
    routes += console_routes(runtime, schema)
    middleware = [
        Middleware(Observe, metrics=metrics, tracing=tracing),
        Middleware(BodyLimit, max_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_bytes),
    ]
    if not settings.is_production:
        middleware.append(Middleware(FollowTestClock, runtime=runtime))
    if watch is not None:  # inside FollowTestClock: the check reads the time the request runs at
        middleware.append(Middleware(RefuseOnConfigurationMismatch, watch=watch))
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.runtime = runtime
    app.state.schema = schema
    return app


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuses request bodies over `max_bytes` on every route (plugins' public links included),
    or over `max_upload_bytes` for a multipart upload, by the declared length up front and by
    counting while the body streams in."""

    def __init__(self, app, max_bytes: int, max_upload_bytes: int | None = None) -> None:
        self.app, self.max_bytes = app, max_bytes
        self.max_upload_bytes = max_upload_bytes or max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        uploading = headers.get(b"content-type", b"").split(b";")[0].strip().lower() == MULTIPART.encode()
        limit = self.max_upload_bytes if uploading else self.max_bytes
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await self._refuse(scope, receive, send, limit)
        received, started = 0, False

        async def counting_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _TooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope, receive, send, limit: int) -> None:
        response = error_response(413, f"request body over {limit} bytes", "PAYLOAD_TOO_LARGE")
        await response(scope, receive, send)


class FollowTestClock:
    """ASGI middleware, outside production mode only: each HTTP request first reads the active test
    clock (one small query), so everything it does, plugins' routes included, sees the time that
    any process advanced it to. Not for the probes, which must answer (/readyz with its reasons)
    whatever the database's state, nor for GraphiQL's files, which read nothing."""

    def __init__(self, app, runtime) -> None:
        self.app, self.runtime = app, runtime

    async def __call__(self, scope, receive, send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if path and path not in ("/health", "/healthz", "/readyz") and not path.startswith(ASSETS_PATH):
            await self.runtime.follow_test_clock()
        return await self.app(scope, receive, send)


class RefuseOnConfigurationMismatch:
    """ASGI middleware of `enishi serve`'s app (`watch_configuration`): while this server's
    configuration is not the one `enishi db upgrade` last recorded (a change made while it ran),
    every request gets 503 with the reason, code CONFIGURATION_MISMATCH, rather than an answer from
    the old configuration (core/deployment.py). The probes and /metrics still answer: /readyz with
    the reason, so that a load balancer takes the server out."""

    def __init__(self, app, watch: ConfigurationWatch) -> None:
        self.app, self.watch = app, watch

    async def __call__(self, scope, receive, send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if path and path not in ("/health", "/healthz", "/readyz", "/metrics") and not path.startswith(ASSETS_PATH):
            reason = await self.watch.refusal()
            if reason is not None:
                return await error_response(503, reason, "CONFIGURATION_MISMATCH")(scope, receive, send)
        return await self.app(scope, receive, send)
