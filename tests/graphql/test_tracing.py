"""OpenTelemetry spans (ENISHI_TRACING=on), read from the SDK's in-memory exporter: a server span per
request continuing the caller's trace, a span per GraphQL operation inside it, a span per SQL
statement inside that; and no personal data in any name or attribute (no variables, no document,
no statement text or parameters, no path holding a link's token)."""

import json

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.graphql.test_request_logs import MUTATION, PERSONAL

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    """The process's tracer provider, set once (OpenTelemetry refuses to replace it), recording
    into memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


async def test_requests_operations_and_statements_are_spans_without_personal_data(enishi_api, exporter):
    api = await enishi_api(tracing=True)
    token = await api.token()
    exporter.clear()
    response = await api.client.post(
        "/graphql",
        json={"query": MUTATION, "variables": {"input": PERSONAL}},
        headers={"Authorization": f"Bearer {token}", "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
    )
    assert response.json()["data"]["createContact"]["userErrors"] == []
    await api.client.get("/support/csat/a-secret-link-token")
    spans = exporter.get_finished_spans()
    by_name = {span.name: span for span in spans}

    request = by_name["POST /graphql"]
    assert request.kind == trace.SpanKind.SERVER
    assert format(request.context.trace_id, "032x") == TRACE_ID  # the caller's trace goes on
    assert dict(request.attributes or {}) == {
        "http.request.method": "POST",
        "http.route": "/graphql",
        "http.response.status_code": 200,
        "enishi.request_id": response.headers["x-request-id"],
    }
    operation = by_name["mutation Create"]
    assert operation.parent is not None and operation.parent.span_id == request.context.span_id
    assert dict(operation.attributes or {}) == {"graphql.operation.type": "mutation", "graphql.operation.name": "Create"}
    statements = [span for span in spans if span.kind == trace.SpanKind.CLIENT]
    inside = [span for span in statements if span.parent is not None and span.parent.span_id == operation.context.span_id]
    assert {span.name for span in inside} >= {"INSERT", "SELECT"}
    for span in statements:
        assert set(span.attributes or {}) == {"db.system.name", "db.operation.name"}
    assert "GET /support/csat/{token}" in by_name

    recorded = json.dumps([(span.name, dict(span.attributes or {})) for span in spans], ensure_ascii=False)
    for secret in ("山田", "taro", "abc.co.jp", "1234", "a-secret-link-token", "createContact(input"):
        assert secret not in recorded, secret


async def test_without_tracing_no_span_is_made(api, exporter):
    exporter.clear()
    await api.client.get("/healthz")
    await api.graphql("{ contacts { totalCount } }")
    assert exporter.get_finished_spans() == ()
