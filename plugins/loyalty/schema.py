"""Loyalty's GraphQL root: `Contact.loyalty`, the ledger queries, and the mutations; the types they
return are in types.py. ORM classes are reached as `orm.*`."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry
from sqlalchemy import func, select
from strawberry.types import Info

from enishi.plugin import (
    Connection,
    InvalidArgument,
    PageRequest,
    SortKey,
    camel,
    input_values,
    load_row,
    paginate,
    parse_global_id,
    run_mutation,
    to_global_id,
    utc_instant,
)

from . import audit, earning, rewards, service, tiers
from . import models as orm
from .types import (
    LEDGER_ORDER,
    AdjustPointsInput,
    CreateEarningRuleInput,
    CreateLoyaltyProgramInput,
    CreateLoyaltyRewardInput,
    EarnPointsInput,
    EnrollMemberInput,
    LoyaltyEarningRule,
    LoyaltyEarningRulePayload,
    LoyaltyEntry,
    LoyaltyEntryFilter,
    LoyaltyEntryPayload,
    LoyaltyLedgerCheck,
    LoyaltyLedgerProblem,
    LoyaltyMember,
    LoyaltyMemberPayload,
    LoyaltyProgram,
    LoyaltyProgramPayload,
    LoyaltyPurchasePayload,
    LoyaltyReferralPayload,
    LoyaltyReward,
    LoyaltyRewardPayload,
    LoyaltyTier,
    LoyaltyTierPayload,
    RecordPurchaseInput,
    RecordReferralInput,
    RedeemRewardInput,
    RefundPurchaseInput,
    SetEarningRuleActiveInput,
    SpendPointsInput,
    UpdateLoyaltyRewardInput,
    UpsertLoyaltyTierInput,
)

MAX_WITHIN_DAYS = 36_500


# --- Contact.loyalty and the queries ------------------------------------------------------------


# The default program: the first created.
_DEFAULT_PROGRAM = (
    select(orm.LoyaltyProgram.id).order_by(orm.LoyaltyProgram.created_at, orm.LoyaltyProgram.id).limit(1).scalar_subquery()
)


async def contact_loyalty(contacts: list, info: Info, program_id: strawberry.ID | None = None) -> list[LoyaltyMember | None]:
    """`Contact.loyalty` of every contact of a level (a batch field): each one's membership of the
    default program unless one is named, with its tier joined in — one statement."""
    info.context.require("loyalty.read")
    program = _DEFAULT_PROGRAM if program_id is None else parse_global_id(program_id, "LoyaltyProgram", "programId")
    ids = [contact._row.id for contact in contacts]
    rows = await info.context.execute(
        select(orm.LoyaltyMember, orm.LoyaltyTier)
        .outerjoin(orm.LoyaltyTier, orm.LoyaltyTier.id == orm.LoyaltyMember.tier_id)
        .where(orm.LoyaltyMember.contact_id.in_(list(set(ids))), orm.LoyaltyMember.program_id == program)
    )
    found = {member.contact_id: LoyaltyMember.from_row(member, tier) for member, tier in rows}
    return [found.get(i) for i in ids]


@strawberry.type
class LoyaltyQuery:
    @strawberry.field
    async def loyalty_programs(self, info: Info) -> list[LoyaltyProgram]:
        info.context.require("loyalty.read")
        return [
            LoyaltyProgram.from_row(p)
            for p in await info.context.scalars(select(orm.LoyaltyProgram).order_by(orm.LoyaltyProgram.created_at))
        ]

    @strawberry.field(description="A member's ledger, newest first.")
    async def points_ledger(
        self,
        info: Info,
        member_id: strawberry.ID,
        filter: LoyaltyEntryFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[LoyaltyEntry]:
        info.context.require("loyalty.read")
        member = await load_row(info.context, orm.LoyaltyMember, parse_global_id(member_id, "LoyaltyMember", "memberId"))
        if member is None:
            return await paginate(
                info.context,
                select(orm.LoyaltyEntry).where(orm.LoyaltyEntry.id.is_(None)),
                LEDGER_ORDER,
                PageRequest(first, after, last, before),
                LoyaltyEntry.from_row,
            )
        return await LoyaltyMember.from_row(member).ledger(info, filter, first, after, last, before)

    @strawberry.field(description="Members with points expiring within `withinDays`, soonest first: for reminders.")
    async def members_with_expiring_points(
        self, info: Info, program_id: strawberry.ID, within_days: int = 30, first: int | None = None, after: str | None = None
    ) -> Connection[LoyaltyMember]:
        info.context.require("loyalty.read")
        if within_days > MAX_WITHIN_DAYS:  # a horizon past the year 9999 overflows
            raise InvalidArgument(f"`withinDays` is at most {MAX_WITHIN_DAYS}")
        horizon = info.context.runtime.clock.now() + dt.timedelta(days=max(within_days, 0))
        soonest = (
            select(orm.LoyaltyLot.member_id, func.min(orm.LoyaltyLot.expires_at).label("expires_at"))
            .where(orm.LoyaltyLot.status == "active", orm.LoyaltyLot.remaining > 0, orm.LoyaltyLot.expires_at <= horizon)
            .group_by(orm.LoyaltyLot.member_id)
            .subquery()
        )
        statement = (
            select(orm.LoyaltyMember)
            .join(soonest, soonest.c.member_id == orm.LoyaltyMember.id)
            .where(orm.LoyaltyMember.program_id == _program(program_id), orm.LoyaltyMember.contact_id.is_not(None))
        )
        order = [(SortKey(soonest.c.expires_at, "datetime"), False), (SortKey(orm.LoyaltyMember.id, "uuid"), False)]
        return await paginate(info.context, statement, order, PageRequest(first, after, None, None), LoyaltyMember.from_row)

    @strawberry.field(description="Check every ledger (or one member's): Σ entries = balance = Σ active lots.")
    async def verify_ledger(self, info: Info, member_id: strawberry.ID | None = None) -> LoyaltyLedgerCheck:
        info.context.require("loyalty.read")
        member = parse_global_id(member_id, "LoyaltyMember", "memberId") if member_id else None
        async with info.context.runtime.read_session() as session:
            checked, problems = await audit.verify_ledger(session, member)
        return LoyaltyLedgerCheck(
            ok=not problems,
            members_checked=checked,
            problems=[
                LoyaltyLedgerProblem(
                    member_id=strawberry.ID(to_global_id("LoyaltyMember", p.member_id)),
                    ledger_sum=p.ledger_sum,
                    balance=p.balance,
                    lots_sum=p.lots_sum,
                    last_balance_after=p.last_balance_after,
                )
                for p in problems
            ],
        )


# --- mutations ----------------------------------------------------------------------------------


def _program(value) -> uuid.UUID:
    return parse_global_id(value, "LoyaltyProgram", "programId")


def _member_id(value) -> uuid.UUID:
    return parse_global_id(value, "LoyaltyMember", "memberId")


async def _entry_payload(info: Info, permission: str, work) -> LoyaltyEntryPayload:
    async def run(uow):
        entry = await work(uow)
        return entry, await uow.session.get(orm.LoyaltyMember, entry.member_id)

    result, errors = await run_mutation(info, permission, run)
    entry, member = result if result else (None, None)
    return LoyaltyEntryPayload(
        entry=LoyaltyEntry.from_row(entry) if entry else None,
        member=LoyaltyMember.from_row(member) if member else None,
        user_errors=errors,
    )


@strawberry.type
class LoyaltyMutation:
    @strawberry.mutation
    async def create_loyalty_program(self, info: Info, input: CreateLoyaltyProgramInput) -> LoyaltyProgramPayload:
        row, errors = await run_mutation(info, "loyalty.configure", lambda uow: service.create_program(uow, input_values(input)))
        return LoyaltyProgramPayload(program=LoyaltyProgram.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Create the tier, or change its threshold and multiplier if it exists.")
    async def upsert_loyalty_tier(self, info: Info, input: UpsertLoyaltyTierInput) -> LoyaltyTierPayload:
        row, errors = await run_mutation(
            info,
            "loyalty.configure",
            lambda uow: tiers.upsert_tier(
                uow, _program(input.program_id), input.name, input.threshold, round(input.multiplier * 100)
            ),
        )
        return LoyaltyTierPayload(tier=LoyaltyTier.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def create_earning_rule(self, info: Info, input: CreateEarningRuleInput) -> LoyaltyEarningRulePayload:
        async def work(uow):
            data = input_values(input, skip=("program_id",))
            for name in ("starts_at", "ends_at"):
                data[name] = _aware_named(data.get(name), name)
            return await earning.create_rule(uow, _program(input.program_id), data)

        row, errors = await run_mutation(info, "loyalty.configure", work)
        return LoyaltyEarningRulePayload(rule=LoyaltyEarningRule.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def create_loyalty_reward(self, info: Info, input: CreateLoyaltyRewardInput) -> LoyaltyRewardPayload:
        row, errors = await run_mutation(
            info,
            "loyalty.configure",
            lambda uow: rewards.create_reward(
                uow, _program(input.program_id), input_values(input, {"min_tier_id": "LoyaltyTier"}, skip=("program_id",))
            ),
        )
        return LoyaltyRewardPayload(reward=LoyaltyReward.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def set_earning_rule_active(self, info: Info, input: SetEarningRuleActiveInput) -> LoyaltyEarningRulePayload:
        row, errors = await run_mutation(
            info,
            "loyalty.configure",
            lambda uow: earning.set_rule_active(
                uow, parse_global_id(input.rule_id, "LoyaltyEarningRule", "ruleId"), input.active
            ),
        )
        return LoyaltyEarningRulePayload(rule=LoyaltyEarningRule.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def update_loyalty_reward(self, info: Info, input: UpdateLoyaltyRewardInput) -> LoyaltyRewardPayload:
        row, errors = await run_mutation(
            info,
            "loyalty.configure",
            lambda uow: rewards.update_reward(
                uow, parse_global_id(input.reward_id, "LoyaltyReward", "rewardId"), input_values(input, skip=("reward_id",))
            ),
        )
        return LoyaltyRewardPayload(reward=LoyaltyReward.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Enrol a contact; enrolling twice returns the existing membership.")
    async def enroll_member(self, info: Info, input: EnrollMemberInput) -> LoyaltyMemberPayload:
        row, errors = await run_mutation(
            info,
            "loyalty.operate",
            lambda uow: service.enroll(
                uow, _program(input.program_id), parse_global_id(input.contact_id, "Contact", "contactId")
            ),
        )
        return LoyaltyMemberPayload(member=LoyaltyMember.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def earn_points(self, info: Info, input: EarnPointsInput) -> LoyaltyEntryPayload:
        return await _entry_payload(
            info,
            "loyalty.operate",
            lambda uow: service.earn(
                uow, _member_id(input.member_id), input.amount, reason=input.reason, key=input.idempotency_key
            ),
        )

    @strawberry.mutation(description="Spend points, soonest-expiring first. Never below zero: `INSUFFICIENT_POINTS`.")
    async def spend_points(self, info: Info, input: SpendPointsInput) -> LoyaltyEntryPayload:
        return await _entry_payload(
            info,
            "loyalty.operate",
            lambda uow: service.spend(
                uow, _member_id(input.member_id), input.amount, reason=input.reason, key=input.idempotency_key
            ),
        )

    @strawberry.mutation(description="Correct a balance up or down; a reason is required.")
    async def adjust_points(self, info: Info, input: AdjustPointsInput) -> LoyaltyEntryPayload:
        return await _entry_payload(
            info,
            "loyalty.adjust",
            lambda uow: service.adjust(uow, _member_id(input.member_id), input.amount, input.reason, key=input.idempotency_key),
        )

    @strawberry.mutation(
        description="Record an order as the core's purchase (see `createPurchase`), by the member's contact, "
        "earning in the member's program."
    )
    async def record_purchase(self, info: Info, input: RecordPurchaseInput) -> LoyaltyPurchasePayload:
        async def work(uow):
            lines = [{"category": line.category, "amount": line.amount} for line in input.lines]
            result = await earning.record_purchase(
                uow, _member_id(input.member_id), input.order_id, lines, _aware_named(input.purchased_at, "purchased_at")
            )
            return result.earned, result.locked, await uow.session.get(orm.LoyaltyMember, result.earned.member_id)

        result, errors = await run_mutation(info, "loyalty.operate", work)
        if not result:
            return LoyaltyPurchasePayload(order_id=None, points=None, locked=None, member=None, user_errors=errors)
        earned, locked, member = result
        return LoyaltyPurchasePayload(
            order_id=input.order_id.strip(),
            points=earned.points,
            locked=locked,
            member=LoyaltyMember.from_row(member),
            user_errors=[],
        )

    @strawberry.mutation(
        description="Refund an order (the core's purchase) and take back its points; the balance may go negative."
    )
    async def refund_purchase(self, info: Info, input: RefundPurchaseInput) -> LoyaltyPurchasePayload:
        async def work(uow):
            earned = await earning.refund_purchase(uow, _program(input.program_id), input.order_id)
            return earned, await uow.session.get(orm.LoyaltyMember, earned.member_id)

        result, errors = await run_mutation(info, "loyalty.operate", work)
        if not result:
            return LoyaltyPurchasePayload(order_id=None, points=None, locked=None, member=None, user_errors=errors)
        return LoyaltyPurchasePayload(
            order_id=input.order_id,
            points=-result[0].points,
            locked=False,
            member=LoyaltyMember.from_row(result[1]),
            user_errors=[],
        )

    @strawberry.mutation(description="Stock and points move together, or not at all.")
    async def redeem_reward(self, info: Info, input: RedeemRewardInput) -> LoyaltyEntryPayload:
        async def work(uow):
            redemption = await rewards.redeem(
                uow,
                _member_id(input.member_id),
                parse_global_id(input.reward_id, "LoyaltyReward", "rewardId"),
                key=input.idempotency_key,
            )
            return await uow.session.get(orm.LoyaltyEntry, redemption.entry_id)

        return await _entry_payload(info, "loyalty.operate", work)

    @strawberry.mutation
    async def record_referral(self, info: Info, input: RecordReferralInput) -> LoyaltyReferralPayload:
        entries, errors = await run_mutation(
            info,
            "loyalty.operate",
            lambda uow: earning.record_referral(
                uow,
                parse_global_id(input.referrer_member_id, "LoyaltyMember", "referrerMemberId"),
                parse_global_id(input.referred_member_id, "LoyaltyMember", "referredMemberId"),
            ),
        )
        return LoyaltyReferralPayload(entries=[LoyaltyEntry.from_row(e) for e in entries or []], user_errors=errors)


def _aware_named(value: dt.datetime | None, name: str) -> dt.datetime | None:
    return utc_instant(value, camel(name))
