"""Loyalty rules: a points ledger over lots, earning rules, tiers and rewards.

Every operation on a member first locks the member row (FOR UPDATE on PostgreSQL; the writer
transaction's IMMEDIATE lock on SQLite), so concurrent spends on one member serialise and exactly
the affordable ones succeed. Nothing here knows about GraphQL."""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import math
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError

from enishi.plugin import (
    Checker,
    Contact,
    ContactEmail,
    ContactPhone,
    InputError,
    UnitOfWork,
    UserError,
    live_ids,
    load_for_update,
    log_activity,
    shred_records,
)

from .events import (
    MEMBER_ENROLLED,
    POINTS_ADJUSTED,
    POINTS_EARNED,
    POINTS_EXPIRED,
    POINTS_SPENT,
    PURCHASE_RECORDED,
    PURCHASE_REFUNDED,
    TIER_CHANGED,
)
from .models import (
    DOWNGRADE_MODES,
    EXPIRY_MODES,
    LoyaltyEntry,
    LoyaltyLot,
    LoyaltyLotUse,
    LoyaltyMember,
    LoyaltyMemberKey,
    LoyaltyProgram,
    LoyaltyPurchase,
    LoyaltyRedemption,
    LoyaltyReward,
    LoyaltyRule,
    LoyaltyRuleAward,
    LoyaltyTier,
)

TIER_WINDOW = dt.timedelta(days=365)
RULE_KINDS = ("purchase", "activity", "referral")
LIMIT_PERIODS = ("day", "week", "month")


def _fail(field: str, message: str, code: str) -> InputError:
    return InputError(UserError(field, message, code))


# --- configuration ------------------------------------------------------------------------------


async def create_program(uow: UnitOfWork, data: dict) -> LoyaltyProgram:
    check = Checker()
    name = check.text(data, "name", max_length=200, required=True)
    expiry_mode = check.choice(data, "expiry_mode", EXPIRY_MODES) or "days"
    downgrade_mode = check.choice(data, "downgrade_mode", DOWNGRADE_MODES) or "automatic"
    expiry_days = data.get("expiry_days")
    if expiry_mode == "days" and not (expiry_days and expiry_days > 0):
        check.fail("expiry_days", "must be positive when points expire after a number of days", "REQUIRED")
    if (data.get("lock_days") or 0) < 0:
        check.fail("lock_days", "must not be negative", "OUT_OF_RANGE")
    check.done()
    program = LoyaltyProgram(
        name=name,
        currency=(data.get("currency") or "JPY").upper()[:3],
        expiry_mode=expiry_mode,
        expiry_days=expiry_days if expiry_mode == "days" else None,
        lock_days=data.get("lock_days") or 0,
        downgrade_mode=downgrade_mode,
        created_at=uow.clock.now(),
    )
    uow.session.add(program)
    await uow.session.flush()
    return program


async def upsert_tier(
    uow: UnitOfWork, program_id: uuid.UUID, name: str, threshold: int, multiplier_percent: int = 100
) -> LoyaltyTier:
    await load_for_update(uow, LoyaltyProgram, program_id, field="programId")
    check = Checker()
    name = check.text({"name": name}, "name", max_length=100, required=True)
    if threshold < 0:
        check.fail("threshold", "must not be negative", "OUT_OF_RANGE")
    if not 0 < multiplier_percent <= 1000:
        check.fail("multiplier_percent", "must be between 1 and 1000", "OUT_OF_RANGE")
    check.done()
    tier = (
        await uow.session.execute(select(LoyaltyTier).where(LoyaltyTier.program_id == program_id, LoyaltyTier.name == name))
    ).scalar_one_or_none()
    if tier is None:
        tier = LoyaltyTier(program_id=program_id, name=name)
        uow.session.add(tier)
    tier.threshold, tier.multiplier_percent = threshold, multiplier_percent
    await uow.session.flush()
    return tier


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


async def create_reward(uow: UnitOfWork, program_id: uuid.UUID, data: dict) -> LoyaltyReward:
    await load_for_update(uow, LoyaltyProgram, program_id, field="programId")
    check = Checker()
    name = check.text(data, "name", max_length=200, required=True)
    if (data.get("cost") or 0) <= 0:
        check.fail("cost", "must be positive", "OUT_OF_RANGE")
    for field in ("stock", "per_member_limit"):
        if data.get(field) is not None and data[field] < 0:
            check.fail(field, "must not be negative", "OUT_OF_RANGE")
    tier_id = data.get("min_tier_id")
    if tier_id is not None:
        tier = await uow.session.get(LoyaltyTier, tier_id)
        if tier is None or tier.program_id != program_id:
            check.fail("min_tier_id", "no such tier in this program", "NOT_FOUND")
    check.done()
    reward = LoyaltyReward(
        program_id=program_id,
        name=name,
        cost=data["cost"],
        stock=data.get("stock"),
        per_member_limit=data.get("per_member_limit"),
        min_tier_id=tier_id,
        active=True,
    )
    uow.session.add(reward)
    await uow.session.flush()
    return reward


async def set_rule_active(uow: UnitOfWork, rule_id: uuid.UUID, active: bool) -> LoyaltyRule:
    rule = await load_for_update(uow, LoyaltyRule, rule_id, field="ruleId")
    rule.active = active
    await uow.session.flush()
    return rule


async def update_reward(uow: UnitOfWork, reward_id: uuid.UUID, data: dict) -> LoyaltyReward:
    reward = await load_for_update(uow, LoyaltyReward, reward_id, field="rewardId")
    check = Checker()
    if "name" in data:
        data["name"] = check.text(data, "name", max_length=200, required=True)
    if "cost" in data and (data["cost"] is None or data["cost"] <= 0):
        check.fail("cost", "must be positive", "OUT_OF_RANGE")
    for field in ("stock", "per_member_limit"):
        if data.get(field) is not None and data[field] < 0:
            check.fail(field, "must not be negative", "OUT_OF_RANGE")
    check.done()
    for field in ("name", "cost", "stock", "per_member_limit", "active"):
        if field in data:
            setattr(reward, field, data[field])
    await uow.session.flush()
    return reward


# --- members and the ledger ---------------------------------------------------------------------


async def enroll(uow: UnitOfWork, program_id: uuid.UUID, contact_id: uuid.UUID) -> LoyaltyMember:
    """Enrol the contact; enrolling twice returns the existing member."""
    program = await load_for_update(uow, LoyaltyProgram, program_id, field="programId")
    if not await live_ids(uow, Contact, [contact_id]):
        raise _fail("contactId", "no such contact", "NOT_FOUND")
    existing = (
        await uow.session.execute(
            select(LoyaltyMember).where(LoyaltyMember.program_id == program.id, LoyaltyMember.contact_id == contact_id)
        )
    ).scalar_one_or_none()
    if existing:
        return existing
    member = LoyaltyMember(
        program_id=program.id, contact_id=contact_id, balance=0, enrolled_at=uow.clock.now(), referral_code=uuid.uuid4().hex[:10]
    )
    member.data_key(create=True)  # its ledger's reasons are sealed under it
    uow.session.add(member)
    await uow.session.flush()
    await _evaluate_tier(uow, member)
    await uow.emit(MEMBER_ENROLLED, member.id)
    return member


def _request_hash(operation: str, **params) -> str:
    return hashlib.sha256(json.dumps([operation, params], sort_keys=True, default=str).encode()).hexdigest()


async def _replay(uow: UnitOfWork, program_id, key: str | None, request_hash: str) -> LoyaltyEntry | None:
    """The original entry of an idempotency key; a key reused for a different request is an error."""
    if not key:
        return None
    entry = (
        await uow.session.execute(
            select(LoyaltyEntry).where(LoyaltyEntry.program_id == program_id, LoyaltyEntry.idempotency_key == key)
        )
    ).scalar_one_or_none()
    if entry is not None and entry.request_hash != request_hash:
        raise _fail("idempotencyKey", "was already used for a different request", "IDEMPOTENCY_CONFLICT")
    return entry


async def _append(
    uow: UnitOfWork,
    member: LoyaltyMember,
    kind: str,
    amount: int,
    *,
    reason: str | None = None,
    source: tuple[str, str] | None = None,
    key: str | None = None,
    request_hash: str | None = None,
    tier_points: int = 0,
) -> LoyaltyEntry:
    last = (await uow.session.execute(select(func.max(LoyaltyEntry.seq)).where(LoyaltyEntry.member_id == member.id))).scalar_one()
    member.balance += amount
    entry = LoyaltyEntry(
        seq=(last or 0) + 1,
        program_id=member.program_id,
        member_id=member.id,
        kind=kind,
        amount=amount,
        balance_after=member.balance,
        actor_id=uow.actor_id,
        source_type=source[0] if source else None,
        source_id=source[1] if source else None,
        idempotency_key=key or None,
        request_hash=request_hash if key else None,
        tier_points=tier_points,
        created_at=uow.clock.now(),
    )
    if member.data_key() is not None:  # an erased member's ledger goes on (expiry) without text
        entry.share_key_of(member)
        entry.reason = reason
    uow.session.add(entry)
    try:
        await uow.session.flush()
    except IntegrityError:
        raise _fail("idempotencyKey", "is being used by a concurrent request", "IDEMPOTENCY_CONFLICT") from None
    return entry


def expiry_for(program: LoyaltyProgram, earned_at: dt.datetime, zone) -> dt.datetime | None:
    """When points earned at `earned_at` expire: N days later, or at the end of the month or year
    in the program's time zone."""
    if program.expiry_mode == "never":
        return None
    if program.expiry_mode == "days":
        assert program.expiry_days is not None  # required with this mode (create_program)
        return earned_at + dt.timedelta(days=program.expiry_days)
    local = earned_at.astimezone(zone)
    if program.expiry_mode == "end_of_month":
        first_of_next = (local.replace(day=calendar.monthrange(local.year, local.month)[1]) + dt.timedelta(days=1)).date()
    else:
        first_of_next = dt.date(local.year + 1, 1, 1)
    return dt.datetime.combine(first_of_next, dt.time(), tzinfo=zone).astimezone(dt.UTC)


async def _add_lot(
    uow: UnitOfWork,
    member: LoyaltyMember,
    entry: LoyaltyEntry | None,
    amount: int,
    *,
    status: str = "active",
    unlocks_at=None,
    purchase_id=None,
    earned_at: dt.datetime | None = None,
) -> LoyaltyLot:
    """New points, dated `earned_at` (a purchase's time; by default now): their expiry counts from
    it. An active lot first pays off any debt a refund left behind."""
    program = await uow.session.get_one(LoyaltyProgram, member.program_id)
    earned_at = earned_at or uow.clock.now()
    lot = LoyaltyLot(
        member_id=member.id,
        entry_id=entry.id if entry else None,
        purchase_id=purchase_id,
        amount=amount,
        remaining=amount,
        earned_at=earned_at,
        unlocks_at=unlocks_at,
        status=status,
        expires_at=expiry_for(program, earned_at, uow.settings.zone),
    )
    if status == "active":
        await _pay_debts(uow, member, lot)
    uow.session.add(lot)
    await uow.session.flush()
    return lot


async def _pay_debts(uow: UnitOfWork, member: LoyaltyMember, lot: LoyaltyLot) -> None:
    """Points that become spendable pay off the debts refunds left behind first. Points already
    past their expiry (a back-dated purchase) are worth nothing and pay nothing."""
    if lot.expires_at is not None and lot.expires_at <= uow.clock.now():
        return
    for debt in await _debts(uow, member):
        paid = min(lot.remaining, -debt.remaining)
        debt.remaining += paid
        lot.remaining -= paid
        if debt.remaining == 0:
            debt.status = "spent"
    if lot.remaining == 0:
        lot.status = "spent"


async def _debts(uow: UnitOfWork, member: LoyaltyMember) -> list[LoyaltyLot]:
    return list(
        (
            await uow.session.execute(
                select(LoyaltyLot).where(
                    LoyaltyLot.member_id == member.id, LoyaltyLot.status == "active", LoyaltyLot.remaining < 0
                )
            )
        ).scalars()
    )


async def _consume(uow: UnitOfWork, member: LoyaltyMember, entry: LoyaltyEntry, amount: int, *, first_lot_id=None) -> int:
    """Take `amount` from active lots, soonest-expiring first (then oldest); returns what was taken."""
    order = [LoyaltyLot.expires_at.is_(None), LoyaltyLot.expires_at, LoyaltyLot.earned_at, LoyaltyLot.id]
    if first_lot_id is not None:
        order.insert(0, LoyaltyLot.id != first_lot_id)
    lots = (
        await uow.session.execute(
            select(LoyaltyLot)
            .where(LoyaltyLot.member_id == member.id, LoyaltyLot.status == "active", LoyaltyLot.remaining > 0)
            .order_by(*order)
        )
    ).scalars()
    taken = 0
    for lot in lots:
        if taken == amount:
            break
        take = min(lot.remaining, amount - taken)
        lot.remaining -= take
        if lot.remaining == 0:
            lot.status = "spent"
        uow.session.add(LoyaltyLotUse(entry_id=entry.id, lot_id=lot.id, amount=take))
        taken += take
    await uow.session.flush()
    return taken


async def _member(uow: UnitOfWork, member_id: uuid.UUID) -> LoyaltyMember:
    member = await load_for_update(uow, LoyaltyMember, member_id, field="memberId")
    if member.contact_id is None:
        raise _fail("memberId", "this membership was erased", "MEMBER_ERASED")
    return member


def _positive(amount: int, field: str = "amount") -> None:
    if amount <= 0:
        raise _fail(field, "must be positive", "OUT_OF_RANGE")


async def _once(
    uow: UnitOfWork,
    operation: str,
    member_id: uuid.UUID,
    amount: int,
    reason: str | None,
    key: str | None,
    locked_operation,
    **extra,
) -> LoyaltyEntry:
    """Lock the member, answer a repeated idempotency key with its original entry, else run it."""
    _positive(amount)
    member = await _member(uow, member_id)
    request_hash = _request_hash(operation, member=member_id, amount=amount, reason=reason)
    if (original := await _replay(uow, member.program_id, key, request_hash)) is not None:
        return original
    return await locked_operation(uow, member, amount, reason=reason, key=key, request_hash=request_hash, **extra)


async def earn(
    uow: UnitOfWork,
    member_id: uuid.UUID,
    amount: int,
    *,
    reason: str | None = None,
    key: str | None = None,
    source: tuple[str, str] | None = None,
) -> LoyaltyEntry:
    return await _once(uow, "earn", member_id, amount, reason, key, _earn_locked, source=source)


async def _earn_locked(uow, member, amount, *, reason=None, key=None, request_hash=None, source=None) -> LoyaltyEntry:
    entry = await _append(
        uow, member, "earn", amount, reason=reason, key=key, request_hash=request_hash, source=source, tier_points=amount
    )
    await _add_lot(uow, member, entry, amount)
    await uow.emit(POINTS_EARNED, member.id, {"amount": amount, "entry_id": str(entry.id)})
    await _evaluate_tier(uow, member)
    return entry


async def spend(
    uow: UnitOfWork,
    member_id: uuid.UUID,
    amount: int,
    *,
    reason: str | None = None,
    key: str | None = None,
    source: tuple[str, str] | None = None,
) -> LoyaltyEntry:
    return await _once(uow, "spend", member_id, amount, reason, key, _spend_locked, source=source)


async def _spend_locked(uow, member, amount, *, reason=None, key=None, request_hash=None, source=None) -> LoyaltyEntry:
    await _expire_member_lots(uow, member)
    if member.balance < amount:
        raise _fail(
            "amount",
            "the member does not have enough points"
            if member.balance >= 0
            else "redemptions are blocked until a negative balance is back at zero",
            "INSUFFICIENT_POINTS",
        )
    entry = await _append(uow, member, "spend", -amount, reason=reason, key=key, request_hash=request_hash, source=source)
    await _consume(uow, member, entry, amount)
    await uow.emit(POINTS_SPENT, member.id, {"amount": amount, "entry_id": str(entry.id)})
    return entry


async def adjust(
    uow: UnitOfWork, member_id: uuid.UUID, amount: int, reason: str | None, *, key: str | None = None
) -> LoyaltyEntry:
    if not (reason or "").strip():
        raise _fail("reason", "an adjustment needs a reason", "REQUIRED")
    if amount == 0:
        raise _fail("amount", "must not be zero", "OUT_OF_RANGE")
    member = await _member(uow, member_id)
    request_hash = _request_hash("adjust", member=member_id, amount=amount, reason=reason)
    if (original := await _replay(uow, member.program_id, key, request_hash)) is not None:
        return original
    if amount < 0:
        await _expire_member_lots(uow, member)
        if member.balance < -amount:
            raise _fail("amount", "would take the balance below zero", "INSUFFICIENT_POINTS")
    entry = await _append(uow, member, "adjust", amount, reason=reason, key=key, request_hash=request_hash)
    if amount > 0:
        await _add_lot(uow, member, entry, amount)
    else:
        await _consume(uow, member, entry, -amount)
    await uow.emit(POINTS_ADJUSTED, member.id, {"amount": amount, "entry_id": str(entry.id)})
    return entry


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


async def _multiplier(uow: UnitOfWork, member: LoyaltyMember) -> int:
    tier = await uow.session.get(LoyaltyTier, member.tier_id) if member.tier_id else None
    return tier.multiplier_percent if tier else 100


@dataclass
class PurchaseResult:
    purchase: LoyaltyPurchase
    entry: LoyaltyEntry | None
    lot: LoyaltyLot | None


async def record_purchase(
    uow: UnitOfWork, member_id: uuid.UUID, order_ref: str, lines: list[dict], purchased_at: dt.datetime | None = None
) -> PurchaseResult:
    """Points for an order: Σ over purchase rules of ⌊eligible / perAmount⌋ × points, times the
    tier multiplier, rounded down. Lines in a rule's excluded categories (shipping) do not count.
    With a return window (`lock_days`) the points wait, locked, until it passes.
    The points are dated by `purchased_at`: the return window and the expiry both count from it,
    so a back-dated order's points may be spendable at once, or recorded and expired at once."""
    member = await _member(uow, member_id)
    check = Checker()
    order_ref = check.text({"order_ref": order_ref}, "order_ref", max_length=200, required=True)
    if not lines:
        check.fail("lines", "an order needs at least one line", "REQUIRED")
    for i, line in enumerate(lines):
        if line["amount"] < 0:
            check.fail(f"lines.{i}.amount", "must not be negative", "OUT_OF_RANGE")
    check.done()
    existing = (
        await uow.session.execute(
            select(LoyaltyPurchase).where(LoyaltyPurchase.program_id == member.program_id, LoyaltyPurchase.order_ref == order_ref)
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise _fail("orderId", "this order was already recorded", "DUPLICATE_ORDER")
    when = purchased_at or uow.clock.now()
    total = sum(line["amount"] for line in lines)
    base, eligible = 0, 0
    for rule in await _rules(uow, member.program_id, "purchase", when):
        rule_eligible = sum(line["amount"] for line in lines if (line.get("category") or "") not in rule.excluded_categories)
        base += (rule_eligible // rule.per_amount) * rule.points
        eligible = max(eligible, rule_eligible)
    points = math.floor(base * await _multiplier(uow, member) / 100)
    purchase = LoyaltyPurchase(
        program_id=member.program_id,
        member_id=member.id,
        order_ref=order_ref,
        total=total,
        eligible=eligible,
        points=points,
        purchased_at=when,
    )
    uow.session.add(purchase)
    await uow.session.flush()
    entry = lot = None
    program = await uow.session.get_one(LoyaltyProgram, member.program_id)
    unlocks_at = when + dt.timedelta(days=program.lock_days) if program.lock_days else None
    locked = unlocks_at is not None and unlocks_at > uow.clock.now()  # a back-dated order's window may be over already
    if points and locked:
        lot = await _add_lot(
            uow, member, None, points, status="locked", purchase_id=purchase.id, unlocks_at=unlocks_at, earned_at=when
        )
    elif points:
        entry = await _append(
            uow, member, "earn", points, reason=f"order {order_ref}", source=("purchase", order_ref), tier_points=points
        )
        lot = await _add_lot(uow, member, entry, points, purchase_id=purchase.id, unlocks_at=unlocks_at, earned_at=when)
        await _expire_member_lots(uow, member)  # points of an order older than the expiry are in the ledger, and expired
        await _evaluate_tier(uow, member)
    await uow.emit(PURCHASE_RECORDED, member.id, {"points": points, "locked": locked})
    return PurchaseResult(purchase, entry, lot)


async def refund_purchase(uow: UnitOfWork, program_id: uuid.UUID, order_ref: str) -> LoyaltyPurchase:
    """Take back the order's points: a locked lot is cancelled; otherwise a reverse entry takes
    them, from the order's own lot first. What is gone already leaves the balance negative."""
    purchase = (
        await uow.session.execute(
            select(LoyaltyPurchase).where(LoyaltyPurchase.program_id == program_id, LoyaltyPurchase.order_ref == order_ref)
        )
    ).scalar_one_or_none()
    if purchase is None:
        raise _fail("orderId", "no such order", "NOT_FOUND")
    member = await _member(uow, purchase.member_id)
    await uow.session.refresh(purchase, with_for_update=True)
    if purchase.refunded_at is not None:
        raise _fail("orderId", "was already refunded", "ALREADY_REFUNDED")
    purchase.refunded_at = uow.clock.now()
    lot = (await uow.session.execute(select(LoyaltyLot).where(LoyaltyLot.purchase_id == purchase.id))).scalar_one_or_none()
    if lot is not None and lot.status == "locked":
        lot.status, lot.remaining = "cancelled", 0
    elif purchase.points:
        entry = await _append(
            uow,
            member,
            "reverse",
            -purchase.points,
            reason=f"refund of order {order_ref}",
            source=("refund", order_ref),
            tier_points=-purchase.points,
        )
        taken = await _consume(uow, member, entry, purchase.points, first_lot_id=lot.id if lot else None)
        if taken < purchase.points:
            debt = LoyaltyLot(
                member_id=member.id,
                entry_id=entry.id,
                amount=taken - purchase.points,
                remaining=taken - purchase.points,
                earned_at=uow.clock.now(),
                status="active",
            )
            uow.session.add(debt)
        await _evaluate_tier(uow, member)
    await uow.session.flush()
    await uow.emit(PURCHASE_REFUNDED, member.id, {"points": purchase.points})
    return purchase


# --- rewards and referrals ----------------------------------------------------------------------


async def redeem(uow: UnitOfWork, member_id: uuid.UUID, reward_id: uuid.UUID, *, key: str | None = None) -> LoyaltyRedemption:
    """Stock and points move together or not at all."""
    member = await _member(uow, member_id)
    reward = await load_for_update(uow, LoyaltyReward, reward_id, field="rewardId")
    request_hash = _request_hash("redeem", member=member_id, reward=reward_id)
    if (original := await _replay(uow, member.program_id, key, request_hash)) is not None:
        return (
            await uow.session.execute(select(LoyaltyRedemption).where(LoyaltyRedemption.entry_id == original.id))
        ).scalar_one()
    if reward.program_id != member.program_id or not reward.active:
        raise _fail("rewardId", "is not available in this member's program", "NOT_FOUND")
    if reward.stock is not None and reward.stock <= 0:
        raise _fail("rewardId", "is out of stock", "OUT_OF_STOCK")
    if reward.per_member_limit is not None:
        taken = (
            await uow.session.execute(
                select(func.count()).where(LoyaltyRedemption.reward_id == reward.id, LoyaltyRedemption.member_id == member.id)
            )
        ).scalar_one()
        if taken >= reward.per_member_limit:
            raise _fail("rewardId", "the member has reached this reward's limit", "LIMIT_REACHED")
    if reward.min_tier_id is not None:
        required = await uow.session.get_one(LoyaltyTier, reward.min_tier_id)
        current = await uow.session.get(LoyaltyTier, member.tier_id) if member.tier_id else None
        if current is None or current.threshold < required.threshold:
            raise _fail("rewardId", f"needs tier {required.name} or higher", "TIER_TOO_LOW")
    entry = await _spend_locked(
        uow,
        member,
        reward.cost,
        reason=f"reward: {reward.name}",
        key=key,
        request_hash=request_hash,
        source=("reward", str(reward.id)),
    )
    if reward.stock is not None:
        reward.stock -= 1
    redemption = LoyaltyRedemption(reward_id=reward.id, member_id=member.id, entry_id=entry.id, redeemed_at=uow.clock.now())
    uow.session.add(redemption)
    await uow.session.flush()
    return redemption


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
    members = {m: await _member(uow, m) for m in (first, second)}
    referrer, referred = members[referrer_id], members[referred_id]
    if referrer.program_id != referred.program_id:
        raise _fail("referredMemberId", "belongs to another program", "WRONG_PROGRAM")
    if referrer.contact_id == referred.contact_id or (
        await _identity_keys(uow, referrer.contact_id) & await _identity_keys(uow, referred.contact_id)
    ):
        raise _fail("referredMemberId", "a member cannot refer themselves", "SELF_REFERRAL")
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
        raise _fail("referredMemberId", "was already referred", "ALREADY_REFERRED")
    entries = []
    for rule in await _rules(uow, referrer.program_id, "referral", uow.clock.now()):
        for member in (referrer, referred):
            entries.append(await _earn_locked(uow, member, rule.points, reason=rule.name, source=source))
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
    assert rule.limit_period is not None  # a limit comes with its period (create_rule)
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
    awards = 0
    members = (
        (
            await uow.session.execute(
                select(LoyaltyMember.id).where(LoyaltyMember.contact_id.in_(contact_ids)).order_by(LoyaltyMember.id)
            )
        )
        .scalars()
        .all()
    )
    for member_id in members:
        member = await _member(uow, member_id)
        for rule in await _rules(uow, member.program_id, "activity", uow.clock.now()):
            if rule.activity_type != activity_type or not await _within_limit(uow, rule, member):
                continue
            points = math.floor(rule.points * await _multiplier(uow, member) / 100)
            entry = await _earn_locked(uow, member, points, reason=rule.name, source=("activity", activity_id))
            uow.session.add(LoyaltyRuleAward(rule_id=rule.id, member_id=member.id, entry_id=entry.id, awarded_at=uow.clock.now()))
            awards += 1
    await uow.session.flush()
    return awards


# --- tiers --------------------------------------------------------------------------------------


async def earned_in_window(session, member_id, now: dt.datetime) -> int:
    total = (
        await session.execute(
            select(func.coalesce(func.sum(LoyaltyEntry.tier_points), 0)).where(
                LoyaltyEntry.member_id == member_id, LoyaltyEntry.created_at > now - TIER_WINDOW
            )
        )
    ).scalar_one()
    return int(total)


async def tiers_of(session, program_id) -> list[LoyaltyTier]:
    return list(
        (
            await session.execute(select(LoyaltyTier).where(LoyaltyTier.program_id == program_id).order_by(LoyaltyTier.threshold))
        ).scalars()
    )


async def _evaluate_tier(uow: UnitOfWork, member: LoyaltyMember, *, review: bool = False) -> None:
    """Upgrades happen at once; downgrades per the program's mode (never, at once, or at review)."""
    tiers = await tiers_of(uow.session, member.program_id)
    if not tiers:
        return
    earned = await earned_in_window(uow.session, member.id, uow.clock.now())
    qualified = [t for t in tiers if t.threshold <= earned]
    target = qualified[-1] if qualified else None
    current = next((t for t in tiers if t.id == member.tier_id), None)
    program = await uow.session.get_one(LoyaltyProgram, member.program_id)
    current_threshold = current.threshold if current else -1
    target_threshold = target.threshold if target else -1
    if target_threshold < current_threshold and not (
        program.downgrade_mode == "automatic" or (program.downgrade_mode == "periodic" and review)
    ):
        return
    if target_threshold == current_threshold:
        return
    member.tier_id = target.id if target else None
    await uow.session.flush()
    change = {"from": current.name if current else None, "to": target.name if target else None}
    await uow.emit(TIER_CHANGED, member.id, change)
    if member.contact_id is not None:
        await log_activity(
            uow,
            {
                "type": "loyalty.tier_changed",
                "summary": f"Tier: {change['from'] or '—'} → {change['to'] or '—'}",
                "contact_ids": [member.contact_id],
            },
            source_plugin="loyalty",
        )


# --- scheduled work -----------------------------------------------------------------------------


async def _due_lots(runtime, status: str, column) -> list[tuple[uuid.UUID, uuid.UUID]]:
    async with runtime.read_session() as session:
        rows = await session.execute(
            select(LoyaltyLot.id, LoyaltyLot.member_id)
            .where(LoyaltyLot.status == status, column.is_not(None), column <= runtime.clock.now())
            .order_by(column)
        )
        return list(rows)


async def _expire_member_lots(uow: UnitOfWork, member: LoyaltyMember) -> int:
    """Write an expire entry for each of the (locked) member's lots past expiry with points left.
    Called by the job and before every spend, so points past their date are never spent even when
    the job has not run yet."""
    lots = (
        (
            await uow.session.execute(
                select(LoyaltyLot)
                .where(
                    LoyaltyLot.member_id == member.id,
                    LoyaltyLot.status == "active",
                    LoyaltyLot.remaining > 0,
                    LoyaltyLot.expires_at.is_not(None),
                    LoyaltyLot.expires_at <= uow.clock.now(),
                )
                .order_by(LoyaltyLot.expires_at)
            )
        )
        .scalars()
        .all()
    )
    for lot in lots:
        entry = await _append(uow, member, "expire", -lot.remaining, reason="points expired", source=("lot", str(lot.id)))
        uow.session.add(LoyaltyLotUse(entry_id=entry.id, lot_id=lot.id, amount=lot.remaining))
        lot.remaining, lot.status = 0, "expired"
        await uow.emit(POINTS_EXPIRED, member.id, {"amount": -entry.amount})
    await uow.session.flush()
    return len(lots)


async def expire_due(runtime) -> int:
    """The scheduled job. Idempotent: each member's lots are re-read under the member's lock, so a
    second run (or a second worker) finds nothing left to do."""
    expired = 0
    member_ids = dict.fromkeys(member_id for _, member_id in await _due_lots(runtime, "active", LoyaltyLot.expires_at))
    for member_id in member_ids:
        async with runtime.unit_of_work() as uow:
            expired += await _expire_member_lots(uow, await load_for_update(uow, LoyaltyMember, member_id))
    return expired


async def unlock_due(runtime) -> int:
    unlocked = 0
    for lot_id, member_id in await _due_lots(runtime, "locked", LoyaltyLot.unlocks_at):
        async with runtime.unit_of_work() as uow:
            member = await load_for_update(uow, LoyaltyMember, member_id)
            lot = await uow.session.get(LoyaltyLot, lot_id, populate_existing=True)
            if lot.status != "locked":
                continue
            entry = await _append(
                uow,
                member,
                "unlock",
                lot.amount,
                reason="return window passed",
                source=("purchase", str(lot.purchase_id)),
                tier_points=lot.amount,
            )
            lot.status, lot.entry_id = "active", entry.id  # its expiry counts from the purchase, set when recorded
            await _pay_debts(uow, member, lot)
            await _evaluate_tier(uow, member)
            unlocked += 1
    return unlocked


async def review_tiers(runtime) -> int:
    async with runtime.read_session() as session:
        member_ids = list(
            (await session.execute(select(LoyaltyMember.id).where(LoyaltyMember.contact_id.is_not(None)))).scalars()
        )
    for member_id in member_ids:
        async with runtime.unit_of_work() as uow:
            await _evaluate_tier(uow, await load_for_update(uow, LoyaltyMember, member_id), review=True)
    return len(member_ids)


# --- reading ------------------------------------------------------------------------------------


@dataclass
class LedgerProblem:
    member_id: uuid.UUID
    ledger_sum: int
    balance: int
    lots_sum: int
    last_balance_after: int | None


async def verify_ledger(session, member_id: uuid.UUID | None = None) -> tuple[int, list[LedgerProblem]]:
    """Check Σ ledger = balance = Σ remaining of active lots = last balance_after, per member."""
    members = select(LoyaltyMember)
    if member_id is not None:
        members = members.where(LoyaltyMember.id == member_id)
    rows = (await session.execute(members)).scalars().all()
    ledger = dict(
        (
            await session.execute(select(LoyaltyEntry.member_id, func.sum(LoyaltyEntry.amount)).group_by(LoyaltyEntry.member_id))
        ).all()
    )
    lots = dict(
        (
            await session.execute(
                select(LoyaltyLot.member_id, func.sum(LoyaltyLot.remaining))
                .where(LoyaltyLot.status == "active")
                .group_by(LoyaltyLot.member_id)
            )
        ).all()
    )
    latest = select(LoyaltyEntry.member_id, func.max(LoyaltyEntry.seq).label("seq")).group_by(LoyaltyEntry.member_id).subquery()
    last = dict(
        (
            await session.execute(
                select(LoyaltyEntry.member_id, LoyaltyEntry.balance_after).join(
                    latest, and_(latest.c.member_id == LoyaltyEntry.member_id, latest.c.seq == LoyaltyEntry.seq)
                )
            )
        ).all()
    )
    problems = []
    for member in rows:
        ledger_sum, lots_sum = int(ledger.get(member.id) or 0), int(lots.get(member.id) or 0)
        last_after = last.get(member.id)
        if not (ledger_sum == member.balance == lots_sum and (last_after is None or last_after == member.balance)):
            problems.append(LedgerProblem(member.id, ledger_sum, member.balance, lots_sum, last_after))
    return len(rows), problems


async def pending_points(session, member_id) -> int:
    return int(
        (
            await session.execute(
                select(func.coalesce(func.sum(LoyaltyLot.remaining), 0)).where(
                    LoyaltyLot.member_id == member_id, LoyaltyLot.status == "locked"
                )
            )
        ).scalar_one()
    )


async def expiring_soon(session, member_id, now: dt.datetime, within: dt.timedelta) -> list[LoyaltyLot]:
    return list(
        (
            await session.execute(
                select(LoyaltyLot)
                .where(
                    LoyaltyLot.member_id == member_id,
                    LoyaltyLot.status == "active",
                    LoyaltyLot.remaining > 0,
                    LoyaltyLot.expires_at.is_not(None),
                    LoyaltyLot.expires_at <= now + within,
                )
                .order_by(LoyaltyLot.expires_at)
            )
        ).scalars()
    )


async def merge_memberships(uow: UnitOfWork, survivor_contact_id, merged_contact_ids, dry_run: bool) -> int:
    """Contacts merged: a membership moves to the survivor; where the survivor has one in the same
    program already, the points move lot by lot (keeping each lot's expiry) through two
    adjustments, and the emptied membership stays behind with its history."""
    moved = 0
    merged = (
        (
            await uow.session.execute(
                select(LoyaltyMember)
                .where(LoyaltyMember.contact_id.in_(merged_contact_ids))
                .order_by(LoyaltyMember.id)
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    for member in merged:
        moved += 1
        if dry_run:
            continue
        survivor = (
            await uow.session.execute(
                select(LoyaltyMember)
                .where(LoyaltyMember.program_id == member.program_id, LoyaltyMember.contact_id == survivor_contact_id)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if survivor is None:
            member.contact_id = survivor_contact_id
            continue
        lots = (
            (
                await uow.session.execute(
                    select(LoyaltyLot).where(
                        LoyaltyLot.member_id == member.id, LoyaltyLot.status == "active", LoyaltyLot.remaining > 0
                    )
                )
            )
            .scalars()
            .all()
        )
        for lot in lots:
            points = lot.remaining
            out = await _append(uow, member, "adjust", -points, reason="moved to the surviving contact on merge")
            uow.session.add(LoyaltyLotUse(entry_id=out.id, lot_id=lot.id, amount=points))
            lot.remaining, lot.status = 0, "spent"
            into = await _append(uow, survivor, "adjust", points, reason="moved from a merged contact")
            new_lot = await _add_lot(uow, survivor, into, points)
            new_lot.expires_at, new_lot.earned_at = lot.expires_at, lot.earned_at
        await uow.session.flush()
    return moved


async def unlink_member(uow: UnitOfWork, contact_id) -> dict:
    """Erasure: the ledger stays whole (it must still balance, and is never rewritten) but no
    longer points at the person, and the reasons on it are unreadable for good (the membership's
    key destroyed)."""
    members = (await uow.session.execute(select(LoyaltyMember).where(LoyaltyMember.contact_id == contact_id))).scalars().all()
    for member in members:
        member.contact_id, member.referral_code = None, None
    await uow.session.flush()
    return {
        "loyalty_member:anonymise": len(members),
        "loyalty_member:shred": await shred_records(uow, LoyaltyMemberKey.member_id, [member.id for member in members]),
    }
