"""How errors reach a caller: typed `userErrors` in payloads for bad input, GraphQL errors with
an `extensions.code` for everything else, and nothing internal (no traces, no values) ever."""

from __future__ import annotations

import json
import logging
import traceback

import strawberry
from graphql import GraphQLError
from sqlalchemy.exc import StatementError
from starlette.responses import Response
from strawberry.relay import GlobalIDValueError

from enishi.errors import EnishiError, InputError, UserError

log = logging.getLogger("enishi.graphql")
INTERNAL_MESSAGE = "Internal server error."


@strawberry.type(name="UserError", description="A problem with the input: which field, what, and a stable code.")
class UserErrorType:
    field: str | None
    message: str
    code: str

    @classmethod
    def of(cls, error: UserError) -> UserErrorType:
        return cls(field=error.field, message=error.message, code=error.code)


def present_error(error: GraphQLError) -> GraphQLError:
    """Known errors keep their message and gain a code; unknown ones are masked and logged by
    exception type and frames only (exception messages may carry SQL parameters)."""
    original = error.original_error
    if isinstance(original, StatementError) and isinstance(original.orig, EnishiError):
        original = original.orig  # refused while binding a value (a naive date-time): the caller's error
    if original is None:
        if error.extensions and "code" in error.extensions:
            return error
        return GraphQLError(
            error.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "GRAPHQL_VALIDATION_FAILED"},
        )
    if isinstance(original, EnishiError):
        code = original.errors[0].code if isinstance(original, InputError) and len(original.errors) == 1 else original.code
        message = original.errors[0].message if isinstance(original, InputError) and len(original.errors) == 1 else str(original)
        return GraphQLError(
            message, nodes=error.nodes, source=error.source, positions=error.positions, path=error.path, extensions={"code": code}
        )
    if isinstance(original, GraphQLError):
        return present_error(original)
    if isinstance(original, GlobalIDValueError):  # well-formed, but naming no type of this schema
        return GraphQLError(
            "not a valid id",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INVALID_ID"},
        )
    # File, line and function only: source lines and messages could quote personal data.
    frames = "\n".join(f"  {f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(original.__traceback__))
    log.error("unhandled %s in resolver at %s\n%s", type(original).__name__, error.path, frames)
    return GraphQLError(
        INTERNAL_MESSAGE,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": "INTERNAL"},
    )


def error_response(
    status: int, message: str, code: str, media_type: str = "application/json", headers: dict | None = None
) -> Response:
    """A refusal of the HTTP surface, shaped as every one is: `{"errors": [{message, extensions.code}]}`."""
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}, ensure_ascii=False)
    return Response(body, status_code=status, media_type=media_type, headers=headers)
