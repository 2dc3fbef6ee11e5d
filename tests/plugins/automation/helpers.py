"""A real HTTP receiver on loopback for webhook tests, and the calls the tests share."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from enishi.plugin import to_global_id

LOOPBACK = {"automation_webhook_allowlist": ["127.0.0.1/32"]}  # the `[extra]` setting that lets tests reach it
WEBHOOK = "webhook { id url eventTypes filter description enabled disabledReason failingSince previousSecretValidUntil }"
NONE = to_global_id("AutomationWebhook", "00000000-0000-4000-8000-000000000000")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next scripted `(status, headers, body)` (the last one
    repeating) and keeps what it was sent."""

    script: list[tuple[int, dict, bytes]] = field(default_factory=lambda: [(200, {}, b"ok")])
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                receiver.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                )
                status, headers, body = receiver.script[min(len(receiver.received), len(receiver.script)) - 1]
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def create_webhook(api, url: str, event_types: list[str], **extra) -> tuple[dict, str]:
    payload = await api.mutate("createWebhook", {"url": url, "eventTypes": event_types, **extra}, f"{WEBHOOK} secret")
    assert payload["userErrors"] == [], payload
    return payload["webhook"], payload["secret"]


async def deliveries(api, webhook_id: str) -> list[dict]:
    data = await api.graphql(
        """query($id: ID!) { webhookDeliveries(webhookId: $id) { edges { node {
             id messageId eventType payload carriesPersonalData status attemptCount nextAttemptAt deliveredAt lastStatusCode
             attempts { attemptedAt statusCode durationMs error responseSnippet } } } } }""",
        {"id": webhook_id},
    )
    return [edge["node"] for edge in data["webhookDeliveries"]["edges"]]
