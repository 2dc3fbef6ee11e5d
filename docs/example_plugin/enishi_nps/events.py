"""The events this plugin emits, each declared once (returned by `enishi_event_types`)."""

from enishi.plugin import EventType, PayloadField

NPS_RECORDED = EventType(
    "nps.recorded",
    "nps_response",
    "A contact answered the NPS survey.",
    (PayloadField("score", int, "the score, 0 to 10 (the comment stays out: payloads never hold what a person wrote)"),),
)

EVENT_TYPES = [NPS_RECORDED]
