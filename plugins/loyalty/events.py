"""The loyalty plugin's events. Orders arrive through the core's `purchase.recorded` (hooks.py)."""

from __future__ import annotations

from enishi.plugin import EventType, PayloadField

MEMBER = "loyalty_member"
_AMOUNT = PayloadField("amount", int, "points (positive)")
_ENTRY = PayloadField("entry_id", str, "the ledger entry written")

MEMBER_ENROLLED = EventType("loyalty.member_enrolled", MEMBER, "A contact joined a loyalty program.")
POINTS_EARNED = EventType("loyalty.points_earned", MEMBER, "Points were added to a member's balance.", (_AMOUNT, _ENTRY))
POINTS_SPENT = EventType("loyalty.points_spent", MEMBER, "A member spent points.", (_AMOUNT, _ENTRY))
POINTS_ADJUSTED = EventType(
    "loyalty.points_adjusted",
    MEMBER,
    "Staff adjusted a member's balance (`amount` may be negative).",
    (PayloadField("amount", int, "points added (negative: taken away)"), _ENTRY),
)
POINTS_EXPIRED = EventType(
    "loyalty.points_expired",
    MEMBER,
    "A lot of points passed its expiry date.",
    (_AMOUNT,),
    fires="in the transaction that expires the lot (the `loyalty.expire` job, or the member's next "
    "purchase), after the ledger entry is written; delivered from the outbox after commit",
)
PURCHASE_RECORDED = EventType(
    "loyalty.purchase_recorded",
    MEMBER,
    "An order earned points (`locked` until its return window ends).",
    (
        PayloadField("points", int, "points the order earns"),
        PayloadField("locked", bool, "whether they wait for the return window"),
    ),
)
PURCHASE_REFUNDED = EventType(
    "loyalty.purchase_refunded",
    MEMBER,
    "An order was refunded and its points taken back.",
    (PayloadField("points", int, "points the order had earned"),),
)
TIER_CHANGED = EventType(
    "loyalty.tier_changed",
    MEMBER,
    "A member moved to another tier (or out of every tier).",
    (PayloadField("from", str | None, "the previous tier's name"), PayloadField("to", str | None, "the new tier's name")),
)
EVENT_TYPES = [
    MEMBER_ENROLLED,
    POINTS_EARNED,
    POINTS_SPENT,
    POINTS_ADJUSTED,
    POINTS_EXPIRED,
    PURCHASE_RECORDED,
    PURCHASE_REFUNDED,
    TIER_CHANGED,
]
