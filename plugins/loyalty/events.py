"""The loyalty plugin's events, and `purchase.recorded`, which shop integrations emit for it."""

from __future__ import annotations

import uuid

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
SHOP_PURCHASE = EventType(
    "purchase.recorded",
    "order",
    "Emitted by a shop integration (not by loyalty) when an order is paid: loyalty awards its points to the member, found "
    "by `member_id` or else by `contact_id`. `entity_id` is the order's id in the shop, if it is a UUID.",
    (
        PayloadField("member_id", str | uuid.UUID, "the loyalty member", required=False),
        PayloadField("contact_id", str | uuid.UUID, "the contact, when the member is not known", required=False),
        PayloadField("order_id", str, "the shop's order reference"),
        PayloadField("lines", list[dict], "`{category, amount}` per order line", required=False),
    ),
    fires="when the integration emits it, inside its transaction; loyalty writes the points in the same transaction",
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
    SHOP_PURCHASE,
]
