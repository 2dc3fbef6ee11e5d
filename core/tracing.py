"""Optional OpenTelemetry spans (`ENISHI_TRACING=on`, `pip install 'enishi[tracing]'`): one per
HTTP request, one per GraphQL operation, one per SQL statement, through the process's tracer
provider (configured by the operator, e.g. `opentelemetry-instrument`; docs/operations.md).

No personal data goes into a span: a request's route template, never its path (links carry
tokens) or query string; an operation's type and name, never its document or variables (either
may hold names and addresses); a statement's first keyword (SELECT, UPDATE…), never its text
or parameters."""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy import event

from .settings import ConfigError

try:
    from opentelemetry import propagate, trace
except ImportError:  # the optional extra is not installed
    trace = None  # type: ignore[assignment]

TRACER_NAME = "enishi"
_SPAN = "_enishi_span"  # where a statement's span waits on SQLAlchemy's execution context


class Tracing:
    """Spans when tracing is on; with it off, each method costs a check and nothing more."""

    def __init__(self, enabled: bool, engine=None) -> None:
        if enabled and trace is None:
            raise ConfigError("ENISHI_TRACING needs OpenTelemetry: pip install 'enishi[tracing]'")
        self.tracer = trace.get_tracer(TRACER_NAME) if enabled and trace is not None else None
        if self.tracer is not None and engine is not None:
            self._trace_statements(engine.sync_engine)

    @contextlib.contextmanager
    def span(self, name: str, attributes: dict[str, Any], *, headers: dict[str, str] | None = None, server: bool = False):
        """A span around the block (a no-op without tracing). `headers`: an incoming request's,
        whose `traceparent` makes this span a child of the caller's."""
        if self.tracer is None:
            yield None
            return
        parent = propagate.extract(headers) if headers else None
        kind = trace.SpanKind.SERVER if server else trace.SpanKind.INTERNAL
        with self.tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes) as span:
            yield span

    def _trace_statements(self, engine) -> None:
        tracer = self.tracer
        assert tracer is not None  # called from __init__ only once the tracer is set
        system = "postgresql" if engine.dialect.name == "postgresql" else engine.dialect.name

        @event.listens_for(engine, "before_cursor_execute")
        def start(_conn, _cursor, statement, _parameters, context, _executemany):
            operation = _operation(statement)
            span = tracer.start_span(
                operation, kind=trace.SpanKind.CLIENT, attributes={"db.system.name": system, "db.operation.name": operation}
            )
            setattr(context, _SPAN, span)

        @event.listens_for(engine, "after_cursor_execute")
        def end(_conn, _cursor, _statement, _parameters, context, _executemany):
            if (span := getattr(context, _SPAN, None)) is not None:
                span.end()

        @event.listens_for(engine, "handle_error")
        def failed(exception_context):
            span = getattr(exception_context.execution_context, _SPAN, None)
            if span is not None:
                # The exception's type only: its message may quote the statement's parameters.
                span.set_status(trace.Status(trace.StatusCode.ERROR, type(exception_context.original_exception).__name__))
                span.end()


def _operation(statement: str) -> str:
    """The statement's first keyword (SELECT, INSERT, WITH…): all of its text a span keeps."""
    words = statement.lstrip().split(None, 1)
    return words[0].upper()[:20] if words else "SQL"
