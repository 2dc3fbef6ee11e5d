"""Earning rules: points for purchases (and taking them back on a refund), for referrals and for
core activities, with their limits per period. Separate from the ledger in service.py, which
these rules only write to through its earn and lot operations."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select

from enishi.plugin import (
    Checker,
    ContactEmail,
    ContactPhone,
    Purchase,
    UnitOfWork,
    load_for_update,
)
from enishi.plugin import record_purchase as core_record_purchase
from enishi.plugin import refund_purchase as core_refund_purchase

from .events import PURCHASE_RECORDED, PURCHASE_REFUNDED
from .models import (
    LoyaltyEntry,
    LoyaltyLot,
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyPurchase,
    LoyaltyRule,
    LoyaltyRuleAward,
)
from .service import (
    add_lot,
    append_entry,
    consume_lots,
    earn_locked,
    expire_member_lots,
    input_error,
    locked_member,
)
from .tiers import evaluate_tier, tier_multiplier

RULE_KINDS = ("purchase", "activity", "referral")
ROUTING_KEY = "loyalty_member_id"  # in `purchase.recorded`: which membership earns


LIMIT_PERIODS = ("day", "week", "month")


async def create_rule(uow: UnitOfWork, program_id: uuid.UUID, data: dict) -> LoyaltyRule:
    await load_for_update(uow, LoyaltyProgram, program_id, field="programId")
    check = Checker()
    name = check.text(data, "name", max_length=200, required=True)
    kind = check.choice(data, "kind", RULE_KINDS)
    if kind is None:
        check.fail("kind", f"must be one of: {', '.join(RULE_KINDS)}", "INVALID_CHOICE")
    if (data.get("points") or 0) <= 0:
        check.fail("points", "must be positive", "OUT_OF_RANGE")
    if kind == "purchase" and not (data.get("per_amount") or 0) > 0:
        check.fail("per_amount", "a purchase rule needs a positive amount per points", "REQUIRED")
    if kind == "activity" and data.get("activity_type") not in uow.runtime.activity_types:
        check.fail("activity_type", "is not a registered activity type", "UNKNOWN_ACTIVITY_TYPE")
    limit_period = check.choice(data, "limit_period", LIMIT_PERIODS)
    if (data.get("limit_count") is None) != (limit_period is None):
        check.fail("limit_count", "give a limit count together with its period", "REQUIRED")
    starts_at, ends_at = data.get("starts_at"), data.get("ends_at")
    if starts_at and ends_at and ends_at <= starts_at:
        check.fail("ends_at", "must be after startsAt", "OUT_OF_RANGE")
    check.done()
    rule = LoyaltyRule(
        program_id=program_id,
        name=name,
        kind=kind,
        points=data["points"],
        per_amount=data.get("per_amount"),
        excluded_categories=sorted(set(data.get("excluded_categories") or [])),
        activity_type=data.get("activity_type"),
        limit_count=data.get("limit_count"),
        limit_period=limit_period,
        starts_at=starts_at,
        ends_at=ends_at,
        active=True,
    )
    uow.session.add(rule)
    await uow.session.flush()
    return rule


async def set_rule_active(uow: UnitOfWork, rule_id: uuid.UUID, active: bool) -> LoyaltyRule:
    rule = await load_for_update(uow, LoyaltyRule, rule_id, field="ruleId")
    rule.active = active
    await uow.session.flush()
    return rule


# --- purchases and refunds ----------------------------------------------------------------------


def _active_at(rule: LoyaltyRule, when: dt.datetime) -> bool:
    return rule.active and (rule.starts_at is None or rule.starts_at <= when) and (rule.ends_at is None or when < rule.ends_at)


async def _rules(uow: UnitOfWork, program_id, kind: str, when: dt.datetime) -> list[LoyaltyRule]:
    rules = (
        await uow.session.execute(
            select(LoyaltyRule)
            .where(LoyaltyRule.program_id == program_id, LoyaltyRule.kind == kind)
            .order_by(LoyaltyRule.name, LoyaltyRule.id)
        )
    ).scalars()
    return [r for r in rules if _active_at(r, when)]


@dataclass
class PurchaseResult:
    earned: LoyaltyPurchase
    locked: bool


async def record_purchase(
    uow: UnitOfWork, member_id: uuid.UUID, order_ref: str, lines: list[dict], purchased_at: dt.datetime | None = None
) -> PurchaseResult:
    """Loyalty's front door (`recordPurchase`): the order is recorded as the core's one purchase,
    by the member's contact, and earns in this member's program (`earn_for_purchase`, run by the
    `purchase.recorded` event this raises)."""
    member = await locked_member(uow, member_id)
    check = Checker()
    order_ref = check.text({"order_ref": order_ref}, "order_ref", max_length=200, required=True)
    if not lines:
        check.fail("lines", "an order needs at least one line", "REQUIRED")
    for i, line in enumerate(lines):
        if line["amount"] < 0:
            check.fail(f"lines.{i}.amount", "must not be negative", "OUT_OF_RANGE")
    check.done()
    program = await uow.session.get_one(LoyaltyProgram, member.program_id)
    purchase = await core_record_purchase(
        uow,
        {
            "contact_id": member.contact_id,
            "order_ref": order_ref,
            "items": lines,
            "currency": program.currency,
            "purchased_at": purchased_at,
        },
        routing={ROUTING_KEY: str(member.id)},
    )
    earned = (
        await uow.session.execute(
            select(LoyaltyPurchase).where(LoyaltyPurchase.purchase_id == purchase.id, LoyaltyPurchase.member_id == member.id)
        )
    ).scalar_one()
    lot = (await uow.session.execute(select(LoyaltyLot).where(LoyaltyLot.purchase_id == earned.id))).scalar_one_or_none()
    return PurchaseResult(earned, lot is not None and lot.status == "locked")


async def earn_for_purchase(uow: UnitOfWork, purchase_id: uuid.UUID, routing: dict) -> None:
    """`purchase.recorded`: the membership named in `routing` (loyalty's own `recordPurchase`), or
    else the buyer's first membership, earns Σ over purchase rules of ⌊eligible / perAmount⌋ ×
    points, times the tier multiplier, rounded down. Items in a rule's excluded categories
    (shipping) do not count; a purchase without items counts whole. With a return window
    (`lock_days`) the points wait, locked, until it passes. The points are dated by the purchase:
    the return window and the expiry both count from it, so a back-dated order's points may be
    spendable at once, or recorded and expired at once."""
    purchase = await uow.session.get_one(Purchase, purchase_id)
    member_id = routing.get(ROUTING_KEY)
    if member_id is None and purchase.contact_id is not None:
        member_id = (
            await uow.session.execute(
                select(LoyaltyMember.id)
                .where(LoyaltyMember.contact_id == purchase.contact_id)
                .order_by(LoyaltyMember.enrolled_at, LoyaltyMember.id)
                .limit(1)
            )
        ).scalar_one_or_none()
    if member_id is None:
        return
    member = await locked_member(uow, uuid.UUID(str(member_id)))
    when = purchase.purchased_at
    lines = purchase.items or [{"category": None, "amount": purchase.amount}]
    base, eligible = 0, 0
    for rule in await _rules(uow, member.program_id, "purchase", when):
        rule_eligible = sum(line["amount"] for line in lines if (line.get("category") or "") not in rule.excluded_categories)
        base += (rule_eligible // rule.per_amount) * rule.points
        eligible = max(eligible, rule_eligible)
    points = math.floor(base * await tier_multiplier(uow, member) / 100)
    earned = LoyaltyPurchase(
        program_id=member.program_id, member_id=member.id, purchase_id=purchase.id, eligible=eligible, points=points
    )
    uow.session.add(earned)
    await uow.session.flush()
    program = await uow.session.get_one(LoyaltyProgram, member.program_id)
    unlocks_at = when + dt.timedelta(days=program.lock_days) if program.lock_days else None
    locked = unlocks_at is not None and unlocks_at > uow.clock.now()  # a back-dated order's window may be over already
    order = purchase.order_ref or str(purchase.id)
    if points and locked:
        await add_lot(uow, member, None, points, status="locked", purchase_id=earned.id, unlocks_at=unlocks_at, earned_at=when)
    elif points:
        entry = await append_entry(
            uow,
            member,
            "earn",
            points,
            reason=f"order {order}",
            source=("purchase", order),
            tier_points=points,
            tier_dated_at=when,
        )
        await add_lot(uow, member, entry, points, purchase_id=earned.id, unlocks_at=unlocks_at, earned_at=when)
        await expire_member_lots(uow, member)  # points of an order older than the expiry are in the ledger, and expired
        await evaluate_tier(uow, member)
    await uow.emit(PURCHASE_RECORDED, member.id, {"points": points, "locked": locked})


async def refund_purchase(uow: UnitOfWork, program_id: uuid.UUID, order_ref: str) -> LoyaltyPurchase:
    """Loyalty's `refundPurchase`: refund the core purchase this program's order names; every
    program it earned in takes its points back (`reverse_for_refund`, run by `purchase.refunded`)."""
    earned = (
        await uow.session.execute(
            select(LoyaltyPurchase)
            .join(Purchase, Purchase.id == LoyaltyPurchase.purchase_id)
            .where(LoyaltyPurchase.program_id == program_id, Purchase.order_ref == order_ref)
        )
    ).scalar_one_or_none()
    if earned is None:
        raise input_error("orderId", "no such order", "NOT_FOUND")
    await core_refund_purchase(uow, earned.purchase_id, field="order_id")
    return earned


async def reverse_for_refund(uow: UnitOfWork, purchase_id: uuid.UUID) -> None:
    """`purchase.refunded`: take back what the order earned in each program. A locked lot is
    cancelled; otherwise a reverse entry takes the points, from the order's own lot first. What is
    gone already leaves the balance negative."""
    purchase = await uow.session.get_one(Purchase, purchase_id)
    order = purchase.order_ref or str(purchase.id)
    links = (
        (
            await uow.session.execute(
                select(LoyaltyPurchase).where(LoyaltyPurchase.purchase_id == purchase_id).order_by(LoyaltyPurchase.member_id)
            )
        )
        .scalars()
        .all()
    )
    for earned in links:
        member = await locked_member(uow, earned.member_id)
        lot = (await uow.session.execute(select(LoyaltyLot).where(LoyaltyLot.purchase_id == earned.id))).scalar_one_or_none()
        if lot is not None and lot.status == "locked":
            lot.status, lot.remaining = "cancelled", 0
        elif earned.points:
            entry = await append_entry(
                uow,
                member,
                "reverse",
                -earned.points,
                reason=f"refund of order {order}",
                source=("refund", order),
                tier_points=-earned.points,
                tier_dated_at=purchase.purchased_at,  # takes the points out of the window they were counted in
            )
            taken = await consume_lots(uow, member, entry, earned.points, first_lot_id=lot.id if lot else None)
            if taken < earned.points:
                debt = LoyaltyLot(
                    member_id=member.id,
                    entry_id=entry.id,
                    amount=taken - earned.points,
                    remaining=taken - earned.points,
                    earned_at=uow.clock.now(),
                    status="active",
                )
                uow.session.add(debt)
            await evaluate_tier(uow, member)
        await uow.session.flush()
        await uow.emit(PURCHASE_REFUNDED, member.id, {"points": earned.points})


# --- referrals ----------------------------------------------------------------------------------


async def _identity_keys(uow: UnitOfWork, contact_id) -> set[str]:
    emails = (
        await uow.session.execute(select(ContactEmail.address_index).where(ContactEmail.contact_id == contact_id))
    ).scalars()
    phones = (await uow.session.execute(select(ContactPhone.e164_index).where(ContactPhone.contact_id == contact_id))).scalars()
    return {f"email:{e}" for e in emails} | {f"phone:{p}" for p in phones}


async def record_referral(uow: UnitOfWork, referrer_id: uuid.UUID, referred_id: uuid.UUID) -> list[LoyaltyEntry]:
    """Both sides earn the program's referral rules. A person cannot refer themselves, also not
    under a second contact record with the same email or phone (compared normalised)."""
    first, second = sorted([referrer_id, referred_id])  # lock order: no deadlock between opposite referrals
    members = {m: await locked_member(uow, m) for m in (first, second)}
    referrer, referred = members[referrer_id], members[referred_id]
    if referrer.program_id != referred.program_id:
        raise input_error("referredMemberId", "belongs to another program", "WRONG_PROGRAM")
    if referrer.contact_id == referred.contact_id or (
        await _identity_keys(uow, referrer.contact_id) & await _identity_keys(uow, referred.contact_id)
    ):
        raise input_error("referredMemberId", "a member cannot refer themselves", "SELF_REFERRAL")
    source = ("referral", str(referred.id))
    already = (
        await uow.session.execute(
            select(func.count()).where(
                LoyaltyEntry.program_id == referred.program_id,
                LoyaltyEntry.source_type == "referral",
                LoyaltyEntry.source_id == str(referred.id),
            )
        )
    ).scalar_one()
    if already:
        raise input_error("referredMemberId", "was already referred", "ALREADY_REFERRED")
    entries = []
    for rule in await _rules(uow, referrer.program_id, "referral", uow.clock.now()):
        for member in (referrer, referred):
            entries.append(await earn_locked(uow, member, rule.points, reason=rule.name, source=source))
    return entries


# --- activity-driven rules, limits --------------------------------------------------------------


def _period_start(now: dt.datetime, period: str, zone) -> dt.datetime:
    local = now.astimezone(zone)
    day = local.date()
    if period == "week":
        day -= dt.timedelta(days=day.weekday())
    elif period == "month":
        day = day.replace(day=1)
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


async def _within_limit(uow: UnitOfWork, rule: LoyaltyRule, member: LoyaltyMember) -> bool:
    if rule.limit_count is None:
        return True
    if rule.limit_period is None:  # create_rule gives both or neither; no constraint does
        raise RuntimeError(f"loyalty rule {rule.id}: a limit count without its period")
    since = _period_start(uow.clock.now(), rule.limit_period, uow.settings.zone)
    awarded = (
        await uow.session.execute(
            select(func.count()).where(
                LoyaltyRuleAward.rule_id == rule.id, LoyaltyRuleAward.member_id == member.id, LoyaltyRuleAward.awarded_at >= since
            )
        )
    ).scalar_one()
    return awarded < rule.limit_count


async def award_for_activity(uow: UnitOfWork, activity_type: str, contact_ids: list[uuid.UUID], activity_id: str) -> int:
    """Points for the members among `contact_ids` under every activity rule of this type."""
    return await award_for_activities(uow, [(activity_type, contact_ids, activity_id)])


async def award_for_activities(uow: UnitOfWork, activities: list[tuple[str, list[uuid.UUID], str]]) -> int:
    """`award_for_activity` for many (activity type, contact ids, activity id) at once: the members
    among all their contacts found in one statement (an import's notes mostly concern none)."""
    contact_ids = {contact_id for _, contacts, _ in activities for contact_id in contacts}
    if not contact_ids:
        return 0
    members_of: dict[uuid.UUID | None, set[uuid.UUID]] = {}  # a contact may be a member of several programmes
    for contact_id, member_id in await uow.session.execute(
        select(LoyaltyMember.contact_id, LoyaltyMember.id).where(LoyaltyMember.contact_id.in_(list(contact_ids)))
    ):
        members_of.setdefault(contact_id, set()).add(member_id)
    awards = 0
    for activity_type, contacts, activity_id in activities:
        for member_id in sorted(set().union(*(members_of.get(c, ()) for c in contacts))):
            member = await locked_member(uow, member_id)
            for rule in await _rules(uow, member.program_id, "activity", uow.clock.now()):
                if rule.activity_type != activity_type or not await _within_limit(uow, rule, member):
                    continue
                points = math.floor(rule.points * await tier_multiplier(uow, member) / 100)
                entry = await earn_locked(uow, member, points, reason=rule.name, source=("activity", activity_id))
                uow.session.add(
                    LoyaltyRuleAward(rule_id=rule.id, member_id=member.id, entry_id=entry.id, awarded_at=uow.clock.now())
                )
                awards += 1
    await uow.session.flush()
    return awards
