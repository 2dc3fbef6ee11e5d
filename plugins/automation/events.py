"""The automation plugin's events. Payloads hold ids and codes, never personal data."""

from enishi.plugin import EventType, PayloadField

WEBHOOK_DISABLED = EventType(
    "automation.webhook_disabled",
    "automation_webhook",
    "A webhook subscription was switched off by the delivery worker: a day of failed deliveries, or a 410 Gone answer.",
    (
        PayloadField("reason", str, "`failing` (a day of failures) or `gone` (410 Gone)"),
        PayloadField("failing_since", str, "the first failure of the run, ISO 8601"),
    ),
    fires="by the scheduled job automation.webhooks, in the transaction that records the failed attempt",
)

EVENT_TYPES = [WEBHOOK_DISABLED]

TEST_EVENT_TYPE = "automation.test"  # what `sendWebhookTestEvent` sends; never emitted, never in the outbox
