"""The ABM plugin's events. Most name the target account: `entity_id` is the core account's id."""

from __future__ import annotations

from enishi.plugin import EventType, PayloadField

_TIER = PayloadField("tier", str | None, "the target's tier (`A`, `B`, `C`), set by hand or from its ICP score")

CONFIG_CHANGED = EventType(
    "abm.config_changed",
    "abm_config",
    "The ABM settings changed (`entity_id` is None).",
    (PayloadField("keys", list[str], "the settings changed"),),
)
ACCOUNT_TARGETED = EventType("abm.account_targeted", "account", "An account became a target account.", (_TIER,))
TARGET_UPDATED = EventType("abm.target_updated", "account", "A target account's tier, owner or rationale changed.", (_TIER,))
ACCOUNT_UNTARGETED = EventType("abm.account_untargeted", "account", "An account stopped being a target account.")
ROLE_ASSIGNED = EventType(
    "abm.role_assigned",
    "account",
    "A contact's buying role at the account was set or cleared.",
    (PayloadField("role", str | None, "the role (`decision_maker`, …); None when cleared"),),
)
_SCORING = (
    "when the target is rescored (after an activity, a contact change, or the daily `abm.recompute` job), in that "
    "transaction, before the new value is stored; delivered from the outbox after commit"
)
SCORE_CHANGED = EventType(
    "abm.score_changed",
    "account",
    "A target account's engagement score moved.",
    (PayloadField("from", float | int, "the previous score"), PayloadField("to", float | int, "the new score")),
    fires=_SCORING,
)
STAGE_CHANGED = EventType(
    "abm.stage_changed",
    "account",
    "A target account moved to another stage of the funnel.",
    (PayloadField("from", str, "the previous stage"), PayloadField("to", str, "the new stage")),
    fires=_SCORING,
)
AUDIENCE_EXPORTED = EventType(
    "abm.audience_exported",
    "abm_audience",
    "An audience was exported (`entity_id` is None).",
    (
        PayloadField("contacts", int, "contacts exported"),
        PayloadField("excluded", int, "contacts left out for lack of consent"),
        PayloadField("third_party", bool, "whether the destination is a third party (a provision record was written)"),
    ),
)

EVENT_TYPES = [
    CONFIG_CHANGED,
    ACCOUNT_TARGETED,
    TARGET_UPDATED,
    ACCOUNT_UNTARGETED,
    ROLE_ASSIGNED,
    SCORE_CHANGED,
    STAGE_CHANGED,
    AUDIENCE_EXPORTED,
]
