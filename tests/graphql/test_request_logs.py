"""Every request gets an id, returned in `X-Request-Id` (the client's own when it is a sane one),
and leaves one log line: method, route template, GraphQL operation and outcome, status, duration
and request id, as JSON or as text, and never the variables, the query string or a link's token."""

import json
import logging
import re

import pytest

from enishi import logs
from enishi.settings import ConfigError, Settings

HEX_ID = re.compile(r"[0-9a-f]{32}")
PERSONAL = {"familyName": "山田", "emails": [{"address": "taro@abc.co.jp"}], "phones": [{"number": "03-1234-5678"}]}
MUTATION = "mutation Create($input: CreateContactInput!) { createContact(input: $input) { contact { id } userErrors { code } } }"


@pytest.fixture
def log_lines(capsys):
    """Configure logging as `enishi serve` does (format chosen per test), then read back the lines
    written to stderr; the test's logging set-up is restored afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level

    def configure(log_format: str) -> None:
        logs.configure("INFO", log_format)

    def lines() -> list[str]:
        return capsys.readouterr().err.splitlines()

    yield configure, lines
    root.handlers[:], level = saved
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = False


async def test_a_sane_request_id_is_kept_and_any_other_replaced(api):
    kept = await api.client.get("/healthz", headers={"X-Request-Id": "lb-7f3a.2024:06-10"})
    assert kept.headers["x-request-id"] == "lb-7f3a.2024:06-10"
    for insane in ("has spaces", "x" * 129, "-leading-dash", "semi;colon", "改行\n"):
        replaced = await api.client.get("/healthz", headers={"X-Request-Id": insane.encode("utf-8")})
        assert HEX_ID.fullmatch(replaced.headers["x-request-id"]), insane
    first, second = (
        (await api.client.get("/healthz")).headers["x-request-id"],
        (await api.client.get("/healthz")).headers["x-request-id"],
    )
    assert HEX_ID.fullmatch(first) and first != second
    refused = await api.client.post("/graphql", json={"query": "{ contacts { totalCount } }"})  # 401: an id all the same
    assert refused.status_code == 401 and HEX_ID.fullmatch(refused.headers["x-request-id"])


async def test_one_json_line_per_request_with_its_id_and_no_personal_data(api, log_lines):
    configure, lines = log_lines
    token = await api.token()
    configure("json")
    response = await api.client.post(
        "/graphql?debug=taro@abc.co.jp",
        json={"query": MUTATION, "variables": {"input": PERSONAL}},
        headers={"Authorization": f"Bearer {token}", "X-Request-Id": "req-0001"},
    )
    assert response.status_code == 200 and response.headers["x-request-id"] == "req-0001"
    await api.client.get("/support/csat/a-secret-link-token")
    entries = [json.loads(line) for line in lines()]
    entries = [entry for entry in entries if entry["logger"] != "httpx"]  # the test's client, not the server
    requests = [entry for entry in entries if entry["logger"] == "enishi.access"]
    assert len(requests) == 2
    graphql, survey = requests
    assert graphql.pop("ts") and graphql.pop("ms") >= 0
    assert graphql == {
        "level": "INFO",
        "logger": "enishi.access",
        "msg": "request",
        "method": "POST",
        "path": "/graphql",
        "operation": "Create",
        "outcome": "ok",
        "status": 200,
        "request_id": "req-0001",
    }
    assert survey["path"] == "/support/csat/{token}" and survey["status"] == 404 and HEX_ID.fullmatch(survey["request_id"])
    text = json.dumps(entries, ensure_ascii=False)
    for secret in ("山田", "taro", "abc.co.jp", "1234", "5678", "a-secret-link-token", "debug"):
        assert secret not in text, secret


async def test_text_lines_carry_the_same_fields(api, log_lines):
    configure, lines = log_lines
    headers = {"Authorization": f"Bearer {await api.token()}", "X-Request-Id": "req-0002"}
    configure("text")
    await api.client.post("/graphql", json={"query": "query Count { contacts { totalCount } }"}, headers=headers)
    [line] = [line for line in lines() if " enishi.access: " in line]
    assert re.fullmatch(
        r'\S+ INFO enishi.access: request method="POST" path="/graphql" operation="Count" outcome="ok" '
        r'status=200 ms=[0-9.]+ request_id="req-0002"',
        line,
    ), line


def test_the_log_format_is_json_or_text():
    assert Settings.from_env({"ENISHI_LOG_FORMAT": "text"}).log_format == "text"
    with pytest.raises(ConfigError, match="log_format must be one of json, text"):
        Settings.from_env({"ENISHI_LOG_FORMAT": "xml"})
