"""Loyalty's central rules: programs, membership, and the points ledger over lots (earn, spend,
adjust, expiry before a spend). Earning rules, rewards, tiers, the scheduled jobs, merge and
erasure, and the ledger audit live in their own modules beside this one and build on it.

Every operation on a member first locks the member row (FOR UPDATE on PostgreSQL; the writer
transaction's IMMEDIATE lock on SQLite), so concurrent spends on one member serialise and exactly
the affordable ones succeed. Nothing here knows about GraphQL."""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from enishi.plugin import (
    Checker,
    Contact,
    InputError,
    UnitOfWork,
    UserError,
    live_ids,
    load_for_update,
)

from .events import (
    MEMBER_ENROLLED,
    POINTS_ADJUSTED,
    POINTS_EARNED,
    POINTS_EXPIRED,
    POINTS_SPENT,
)
from .models import (
    DOWNGRADE_MODES,
    EXPIRY_MODES,
    LoyaltyEntry,
    LoyaltyLot,
    LoyaltyLotUse,
    LoyaltyMember,
    LoyaltyProgram,
)
from .tiers import evaluate_tier


def input_error(field: str, message: str, code: str) -> InputError:
    return InputError(UserError(field, message, code))


# --- programs -----------------------------------------------------------------------------------


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


# --- members and the ledger ---------------------------------------------------------------------


async def enroll(uow: UnitOfWork, program_id: uuid.UUID, contact_id: uuid.UUID) -> LoyaltyMember:
    """Enrol the contact; enrolling twice returns the existing member."""
    program = await load_for_update(uow, LoyaltyProgram, program_id, field="programId")
    if not await live_ids(uow, Contact, [contact_id]):
        raise input_error("contactId", "no such contact", "NOT_FOUND")
    existing = (
        await uow.session.execute(
            select(LoyaltyMember).where(LoyaltyMember.program_id == program.id, LoyaltyMember.contact_id == contact_id)
        )
    ).scalar_one_or_none()
    if existing:
        return existing
    member = LoyaltyMember(
        program_id=program.id,
        contact_id=contact_id,
        balance=0,
        last_seq=0,
        enrolled_at=uow.clock.now(),
        referral_code=uuid.uuid4().hex[:10],
    )
    member.data_key(create=True)  # its ledger's reasons are sealed under it
    uow.session.add(member)
    await uow.session.flush()
    await evaluate_tier(uow, member)
    await uow.emit(MEMBER_ENROLLED, member.id)
    return member


def hash_request(operation: str, **params) -> str:
    return hashlib.sha256(json.dumps([operation, params], sort_keys=True, default=str).encode()).hexdigest()


async def replay(uow: UnitOfWork, program_id, key: str | None, request_hash: str) -> LoyaltyEntry | None:
    """The original entry of an idempotency key; a key reused for a different request is an error."""
    if not key:
        return None
    entry = (
        await uow.session.execute(
            select(LoyaltyEntry).where(LoyaltyEntry.program_id == program_id, LoyaltyEntry.idempotency_key == key)
        )
    ).scalar_one_or_none()
    if entry is not None and entry.request_hash != request_hash:
        raise input_error("idempotencyKey", "was already used for a different request", "IDEMPOTENCY_CONFLICT")
    return entry


async def append_entry(
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
    tier_dated_at: dt.datetime | None = None,
) -> LoyaltyEntry:
    member.balance += amount
    member.last_seq += 1  # the member is locked: no other transaction numbers its ledger meanwhile
    entry = LoyaltyEntry(
        seq=member.last_seq,
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
        tier_dated_at=tier_dated_at or uow.clock.now(),
        created_at=uow.clock.now(),
    )
    if member.data_key() is not None:  # an erased member's ledger goes on (expiry) without text
        entry.share_key_of(member)
        entry.reason = reason
    uow.session.add(entry)
    try:
        await uow.session.flush()
    except IntegrityError:
        raise input_error("idempotencyKey", "is being used by a concurrent request", "IDEMPOTENCY_CONFLICT") from None
    return entry


def expiry_for(program: LoyaltyProgram, earned_at: dt.datetime, zone) -> dt.datetime | None:
    """When points earned at `earned_at` expire: N days later, or at the end of the month or year
    in the program's time zone."""
    if program.expiry_mode == "never":
        return None
    if program.expiry_mode == "days":
        if program.expiry_days is None:  # create_program requires it with this mode; no constraint does
            raise RuntimeError(f"loyalty program {program.id}: expiry mode 'days' without its number of days")
        return earned_at + dt.timedelta(days=program.expiry_days)
    local = earned_at.astimezone(zone)
    if program.expiry_mode == "end_of_month":
        first_of_next = (local.replace(day=calendar.monthrange(local.year, local.month)[1]) + dt.timedelta(days=1)).date()
    else:
        first_of_next = dt.date(local.year + 1, 1, 1)
    return dt.datetime.combine(first_of_next, dt.time(), tzinfo=zone).astimezone(dt.UTC)


async def add_lot(
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
        await pay_debts(uow, member, lot)
    uow.session.add(lot)
    await uow.session.flush()
    return lot


async def pay_debts(uow: UnitOfWork, member: LoyaltyMember, lot: LoyaltyLot) -> None:
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


async def spendable_lots(uow: UnitOfWork, member: LoyaltyMember, *, first_lot_id=None) -> list[LoyaltyLot]:
    """The member's active lots with points left, in the order points are taken: soonest-expiring
    first (then oldest), `first_lot_id` before all. Lots past their expiry come first of all
    (their dates are the soonest), so one read serves `expire_due_lots` and `consume_lots`."""
    order = [LoyaltyLot.expires_at.is_(None), LoyaltyLot.expires_at, LoyaltyLot.earned_at, LoyaltyLot.id]
    if first_lot_id is not None:
        order.insert(0, LoyaltyLot.id != first_lot_id)
    return list(
        (
            await uow.session.execute(
                select(LoyaltyLot)
                .where(LoyaltyLot.member_id == member.id, LoyaltyLot.status == "active", LoyaltyLot.remaining > 0)
                .order_by(*order)
            )
        ).scalars()
    )


async def consume_lots(
    uow: UnitOfWork,
    member: LoyaltyMember,
    entry: LoyaltyEntry,
    amount: int,
    *,
    first_lot_id=None,
    lots: list[LoyaltyLot] | None = None,
) -> int:
    """Take `amount` from `lots` (by default `spendable_lots`, read now), in their order; returns
    what was taken."""
    if lots is None:
        lots = await spendable_lots(uow, member, first_lot_id=first_lot_id)
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


async def locked_member(uow: UnitOfWork, member_id: uuid.UUID) -> LoyaltyMember:
    member = await load_for_update(uow, LoyaltyMember, member_id, field="memberId")
    if member.contact_id is None:
        raise input_error("memberId", "this membership was erased", "MEMBER_ERASED")
    return member


def _positive(amount: int, field: str = "amount") -> None:
    if amount <= 0:
        raise input_error(field, "must be positive", "OUT_OF_RANGE")


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
    member = await locked_member(uow, member_id)
    request_hash = hash_request(operation, member=member_id, amount=amount, reason=reason)
    if (original := await replay(uow, member.program_id, key, request_hash)) is not None:
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
    return await _once(uow, "earn", member_id, amount, reason, key, earn_locked, source=source)


async def earn_locked(uow, member, amount, *, reason=None, key=None, request_hash=None, source=None) -> LoyaltyEntry:
    entry = await append_entry(
        uow, member, "earn", amount, reason=reason, key=key, request_hash=request_hash, source=source, tier_points=amount
    )
    await add_lot(uow, member, entry, amount)
    await uow.emit(POINTS_EARNED, member.id, {"amount": amount, "entry_id": str(entry.id)})
    await evaluate_tier(uow, member)
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
    return await _once(uow, "spend", member_id, amount, reason, key, spend_locked, source=source)


async def spend_locked(uow, member, amount, *, reason=None, key=None, request_hash=None, source=None) -> LoyaltyEntry:
    lots = await expire_due_lots(uow, member, await spendable_lots(uow, member))
    if member.balance < amount:
        raise input_error(
            "amount",
            "the member does not have enough points"
            if member.balance >= 0
            else "redemptions are blocked until a negative balance is back at zero",
            "INSUFFICIENT_POINTS",
        )
    entry = await append_entry(uow, member, "spend", -amount, reason=reason, key=key, request_hash=request_hash, source=source)
    await consume_lots(uow, member, entry, amount, lots=lots)
    await uow.emit(POINTS_SPENT, member.id, {"amount": amount, "entry_id": str(entry.id)})
    return entry


async def adjust(
    uow: UnitOfWork, member_id: uuid.UUID, amount: int, reason: str | None, *, key: str | None = None
) -> LoyaltyEntry:
    if not (reason or "").strip():
        raise input_error("reason", "an adjustment needs a reason", "REQUIRED")
    if amount == 0:
        raise input_error("amount", "must not be zero", "OUT_OF_RANGE")
    member = await locked_member(uow, member_id)
    request_hash = hash_request("adjust", member=member_id, amount=amount, reason=reason)
    if (original := await replay(uow, member.program_id, key, request_hash)) is not None:
        return original
    if amount < 0:
        lots = await expire_due_lots(uow, member, await spendable_lots(uow, member))
        if member.balance < -amount:
            raise input_error("amount", "would take the balance below zero", "INSUFFICIENT_POINTS")
    entry = await append_entry(uow, member, "adjust", amount, reason=reason, key=key, request_hash=request_hash)
    if amount > 0:
        await add_lot(uow, member, entry, amount)
    else:
        await consume_lots(uow, member, entry, -amount, lots=lots)
    await uow.emit(POINTS_ADJUSTED, member.id, {"amount": amount, "entry_id": str(entry.id)})
    return entry


# --- expiry -------------------------------------------------------------------------------------


async def expire_member_lots(uow: UnitOfWork, member: LoyaltyMember) -> int:
    """Write an expire entry for each of the (locked) member's lots past expiry with points left.
    Called by the job and after a back-dated purchase; a spend expires the due lots of its own
    read (`expire_due_lots`), so points past their date are never spent even when the job has
    not run yet."""
    due = (
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
                .order_by(LoyaltyLot.expires_at, LoyaltyLot.earned_at, LoyaltyLot.id)
            )
        )
        .scalars()
        .all()
    )
    await _expire(uow, member, due)
    return len(due)


async def expire_due_lots(uow: UnitOfWork, member: LoyaltyMember, lots: list[LoyaltyLot]) -> list[LoyaltyLot]:
    """Expire the lots past their date among `lots` (`spendable_lots`, where they come first) and
    return the others, still spendable."""
    now = uow.clock.now()
    due = []
    for lot in lots:
        if lot.expires_at is None or lot.expires_at > now:
            break
        due.append(lot)
    await _expire(uow, member, due)
    return lots[len(due) :]


async def _expire(uow: UnitOfWork, member: LoyaltyMember, lots: Sequence[LoyaltyLot]) -> None:
    for lot in lots:
        entry = await append_entry(uow, member, "expire", -lot.remaining, reason="points expired", source=("lot", str(lot.id)))
        uow.session.add(LoyaltyLotUse(entry_id=entry.id, lot_id=lot.id, amount=lot.remaining))
        lot.remaining, lot.status = 0, "expired"
        await uow.emit(POINTS_EXPIRED, member.id, {"amount": -entry.amount})
    if lots:
        await uow.session.flush()
