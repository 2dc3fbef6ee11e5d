"""Loyalty's GraphQL object, input and payload types, and the loaders their fields batch through.
Separate from schema.py so the root query and mutations read apart from the shapes they return.
GraphQL type names carry the `Loyalty` prefix (global ids hold the type name); ORM classes are
reached as `orm.*`."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Awaitable
from typing import Any

import strawberry
from sqlalchemy import func, select
from strawberry import relay
from strawberry.types import Info

from enishi.plugin import (
    Connection,
    DateTimeFilter,
    FilterSpec,
    PageRequest,
    SortKey,
    StringFilter,
    UserErrorType,
    batch_field,
    fetch_rows,
    load_row,
    node_resolver,
    paginate,
    sealed_field,
    then,
)

from . import models as orm
from .tiers import TIER_WINDOW

EXPIRING_WINDOW = dt.timedelta(days=30)


def _grouped_sum(statement_for):
    """A batch function: member ids → an integer aggregate per member (0 where none)."""

    def factory(ctx):
        async def load(member_ids):
            found = dict((await ctx.execute(statement_for(member_ids, ctx))).all())
            return [int(found.get(m) or 0) for m in member_ids]

        return load

    return factory


PENDING = _grouped_sum(
    lambda ids, ctx: (
        select(orm.LoyaltyLot.member_id, func.sum(orm.LoyaltyLot.remaining))
        .where(orm.LoyaltyLot.member_id.in_(ids), orm.LoyaltyLot.status == "locked")
        .group_by(orm.LoyaltyLot.member_id)
    )
)


EARNED = _grouped_sum(
    lambda ids, ctx: (
        select(orm.LoyaltyEntry.member_id, func.sum(orm.LoyaltyEntry.tier_points))
        .where(orm.LoyaltyEntry.member_id.in_(ids), orm.LoyaltyEntry.tier_dated_at > ctx.runtime.clock.now() - TIER_WINDOW)
        .group_by(orm.LoyaltyEntry.member_id)
    )
)


def _expiring_factory(ctx):
    async def load(member_ids):
        now = ctx.runtime.clock.now()
        grouped = defaultdict(list)
        for lot in await ctx.scalars(
            select(orm.LoyaltyLot)
            .where(
                orm.LoyaltyLot.member_id.in_(member_ids),
                orm.LoyaltyLot.status == "active",
                orm.LoyaltyLot.remaining > 0,
                orm.LoyaltyLot.expires_at.is_not(None),
                orm.LoyaltyLot.expires_at <= now + EXPIRING_WINDOW,
            )
            .order_by(orm.LoyaltyLot.expires_at)
        ):
            grouped[lot.member_id].append(lot)
        return [grouped.get(m, []) for m in member_ids]

    return load


def _tiers_factory(ctx):
    async def load(program_ids):
        grouped = defaultdict(list)
        for tier in await ctx.scalars(
            select(orm.LoyaltyTier).where(orm.LoyaltyTier.program_id.in_(program_ids)).order_by(orm.LoyaltyTier.threshold)
        ):
            grouped[tier.program_id].append(tier)
        return [grouped.get(p, []) for p in program_ids]

    return load


@strawberry.type
class LoyaltyTier(relay.Node):
    id: relay.NodeID[str]
    name: str
    threshold: int = strawberry.field(description="Points earned in the rolling 365 days that reach this tier.")
    multiplier: float = strawberry.field(description="Earning multiplier: 1.5 earns one and a half times the points.")

    @classmethod
    def from_row(cls, row) -> LoyaltyTier:
        return cls(id=str(row.id), name=row.name, threshold=row.threshold, multiplier=row.multiplier_percent / 100)

    resolve_nodes = node_resolver(orm.LoyaltyTier, "loyalty.read")


@strawberry.type
class LoyaltyNextTier:
    name: str
    points_needed: int


@strawberry.type
class LoyaltyExpiringPoints:
    points: int
    expires_at: dt.datetime


@strawberry.type
class LoyaltyEarningRule(relay.Node):
    id: relay.NodeID[str]
    name: str
    kind: str
    points: int
    per_amount: int | None
    excluded_categories: list[str]
    activity_type: str | None
    limit_count: int | None
    limit_period: str | None
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    active: bool

    @classmethod
    def from_row(cls, r) -> LoyaltyEarningRule:
        return cls(
            id=str(r.id),
            name=r.name,
            kind=r.kind,
            points=r.points,
            per_amount=r.per_amount,
            excluded_categories=list(r.excluded_categories or []),
            activity_type=r.activity_type,
            limit_count=r.limit_count,
            limit_period=r.limit_period,
            starts_at=r.starts_at,
            ends_at=r.ends_at,
            active=r.active,
        )

    resolve_nodes = node_resolver(orm.LoyaltyRule, "loyalty.read")


@strawberry.type
class LoyaltyReward(relay.Node):
    id: relay.NodeID[str]
    name: str
    cost: int
    stock: int | None = strawberry.field(description="Left in stock; null means unlimited.")
    per_member_limit: int | None
    active: bool
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, r) -> LoyaltyReward:
        return cls(
            id=str(r.id), name=r.name, cost=r.cost, stock=r.stock, per_member_limit=r.per_member_limit, active=r.active, _row=r
        )

    resolve_nodes = node_resolver(orm.LoyaltyReward, "loyalty.read")

    @strawberry.field
    async def min_tier(self, info: Info) -> LoyaltyTier | None:
        row = await load_row(info.context, orm.LoyaltyTier, self._row.min_tier_id) if self._row.min_tier_id else None
        return LoyaltyTier.from_row(row) if row else None


@strawberry.type
class LoyaltyProgram(relay.Node):
    id: relay.NodeID[str]
    name: str
    currency: str
    expiry_mode: str
    expiry_days: int | None
    lock_days: int = strawberry.field(description="Return window: purchase points stay locked this many days.")
    downgrade_mode: str
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, r) -> LoyaltyProgram:
        return cls(
            id=str(r.id),
            name=r.name,
            currency=r.currency,
            expiry_mode=r.expiry_mode,
            expiry_days=r.expiry_days,
            lock_days=r.lock_days,
            downgrade_mode=r.downgrade_mode,
            _row=r,
        )

    resolve_nodes = node_resolver(orm.LoyaltyProgram, "loyalty.read")

    @strawberry.field
    async def tiers(self, info: Info) -> list[LoyaltyTier]:
        return [LoyaltyTier.from_row(t) for t in await info.context.loader("loyalty.tiers", _tiers_factory).load(self._row.id)]

    @strawberry.field
    async def earning_rules(self, info: Info) -> list[LoyaltyEarningRule]:
        return [
            LoyaltyEarningRule.from_row(r)
            for r in await info.context.scalars(
                select(orm.LoyaltyRule).where(orm.LoyaltyRule.program_id == self._row.id).order_by(orm.LoyaltyRule.name)
            )
        ]

    @strawberry.field
    async def rewards(self, info: Info) -> list[LoyaltyReward]:
        return [
            LoyaltyReward.from_row(r)
            for r in await info.context.scalars(
                select(orm.LoyaltyReward).where(orm.LoyaltyReward.program_id == self._row.id).order_by(orm.LoyaltyReward.cost)
            )
        ]


@strawberry.type
class LoyaltyLotUse:
    points: int
    earned_at: dt.datetime
    expires_at: dt.datetime | None


@strawberry.type
class LoyaltyEntry(relay.Node):
    id: relay.NodeID[str]
    seq: int = strawberry.field(description="Position in the member's ledger, from 1.")
    kind: str = strawberry.field(description="earn, unlock, spend, expire, adjust or reverse")
    amount: int
    balance_after: int
    reason: str | None = sealed_field("reason", "Null once the member was erased.")
    source_type: str | None
    source_id: str | None
    idempotency_key: str | None
    created_at: dt.datetime
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, r) -> LoyaltyEntry:
        return cls(
            id=str(r.id),
            seq=r.seq,
            kind=r.kind,
            amount=r.amount,
            balance_after=r.balance_after,
            source_type=r.source_type,
            source_id=r.source_id,
            idempotency_key=r.idempotency_key,
            created_at=r.created_at,
            _row=r,
        )

    resolve_nodes = node_resolver(orm.LoyaltyEntry, "loyalty.read")

    @strawberry.field(description="The lots this entry took points from (spends, expiries, reversals).")
    async def lots_used(self, info: Info) -> list[LoyaltyLotUse]:
        rows = await info.context.execute(
            select(orm.LoyaltyLotUse.amount, orm.LoyaltyLot.earned_at, orm.LoyaltyLot.expires_at)
            .join(orm.LoyaltyLot, orm.LoyaltyLot.id == orm.LoyaltyLotUse.lot_id)
            .where(orm.LoyaltyLotUse.entry_id == self._row.id)
            .order_by(orm.LoyaltyLot.expires_at)
        )
        return [LoyaltyLotUse(points=a, earned_at=e, expires_at=x) for a, e, x in rows]


@strawberry.input
class LoyaltyEntryFilter:
    and_: list[LoyaltyEntryFilter] | None = strawberry.field(default=None, name="and")
    or_: list[LoyaltyEntryFilter] | None = strawberry.field(default=None, name="or")
    not_: LoyaltyEntryFilter | None = strawberry.field(default=None, name="not")
    kind: StringFilter | None = None
    source_type: StringFilter | None = None
    created_at: DateTimeFilter | None = None


ENTRY_FILTER = FilterSpec(
    strings={"kind": orm.LoyaltyEntry.kind, "source_type": orm.LoyaltyEntry.source_type},
    datetimes={"created_at": orm.LoyaltyEntry.created_at},
)


LEDGER_ORDER = [(SortKey(orm.LoyaltyEntry.seq, "int"), True)]


NOT_JOINED = object()


def _member_tiers(members: list[LoyaltyMember], info: Info) -> list[LoyaltyTier | None] | Awaitable[list[LoyaltyTier | None]]:
    """`LoyaltyMember.tier` of a level: the tier joined in when the members were read, or else one statement."""
    if any(member._tier is NOT_JOINED for member in members):
        return then(fetch_rows(info.context, orm.LoyaltyTier, [m._row.tier_id for m in members]), _tiers)
    return _tiers([member._tier for member in members])


def _tiers(rows: list) -> list[LoyaltyTier | None]:
    return [LoyaltyTier.from_row(row) if row is not None else None for row in rows]


@strawberry.type
class LoyaltyMember(relay.Node):
    id: relay.NodeID[str]
    balance: int = strawberry.field(description="Spendable points: the sum of the ledger.")
    enrolled_at: dt.datetime
    referral_code: str | None
    _row: strawberry.Private[Any]
    # The member's tier row (or None) where the query reading the member joined it in
    # (`Contact.loyalty`); NOT_JOINED elsewhere, and `tier` reads it.
    _tier: strawberry.Private[Any] = NOT_JOINED

    @classmethod
    def from_row(cls, r, tier: Any = NOT_JOINED) -> LoyaltyMember:
        return cls(id=str(r.id), balance=r.balance, enrolled_at=r.enrolled_at, referral_code=r.referral_code, _row=r, _tier=tier)

    resolve_nodes = node_resolver(orm.LoyaltyMember, "loyalty.read")

    @strawberry.field(description="Points from purchases still inside their return window: not spendable, not counted for tiers.")
    async def pending(self, info: Info) -> int:
        return await info.context.loader("loyalty.pending", PENDING).load(self._row.id)

    @strawberry.field(description="Points earned in the rolling 365 days: what tiers are based on.")
    async def earned_last_365_days(self, info: Info) -> int:
        return await info.context.loader("loyalty.earned", EARNED).load(self._row.id)

    tier = batch_field(_member_tiers, graphql_type=LoyaltyTier | None)

    @strawberry.field
    async def next_tier(self, info: Info) -> LoyaltyNextTier | None:
        tiers = await info.context.loader("loyalty.tiers", _tiers_factory).load(self._row.program_id)
        current = next((t.threshold for t in tiers if t.id == self._row.tier_id), -1)
        higher = next((t for t in tiers if t.threshold > current), None)
        if higher is None:
            return None
        earned = await self.earned_last_365_days(info)
        return LoyaltyNextTier(name=higher.name, points_needed=max(higher.threshold - earned, 0))

    @strawberry.field(description="Points expiring within 30 days, soonest first: for reminders.")
    async def expiring_soon(self, info: Info) -> list[LoyaltyExpiringPoints]:
        lots = await info.context.loader("loyalty.expiring", _expiring_factory).load(self._row.id)
        return [LoyaltyExpiringPoints(points=lot.remaining, expires_at=lot.expires_at) for lot in lots]

    @strawberry.field
    async def program(self, info: Info) -> LoyaltyProgram:
        return LoyaltyProgram.from_row(await load_row(info.context, orm.LoyaltyProgram, self._row.program_id))

    @strawberry.field(description="The ledger, newest first.")
    async def ledger(
        self,
        info: Info,
        filter: LoyaltyEntryFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[LoyaltyEntry]:
        statement = select(orm.LoyaltyEntry).where(orm.LoyaltyEntry.member_id == self._row.id, ENTRY_FILTER.compile(filter))
        return await paginate(
            info.context, statement, LEDGER_ORDER, PageRequest(first, after, last, before), LoyaltyEntry.from_row
        )


@strawberry.type
class LoyaltyLedgerProblem:
    member_id: strawberry.ID
    ledger_sum: int
    balance: int
    lots_sum: int
    last_balance_after: int | None


@strawberry.type
class LoyaltyLedgerCheck:
    ok: bool
    members_checked: int
    problems: list[LoyaltyLedgerProblem]


# --- mutation inputs and payloads ---------------------------------------------------------------


@strawberry.type
class LoyaltyProgramPayload:
    program: LoyaltyProgram | None
    user_errors: list[UserErrorType]


@strawberry.type
class LoyaltyTierPayload:
    tier: LoyaltyTier | None
    user_errors: list[UserErrorType]


@strawberry.type
class LoyaltyEarningRulePayload:
    rule: LoyaltyEarningRule | None
    user_errors: list[UserErrorType]


@strawberry.type
class LoyaltyRewardPayload:
    reward: LoyaltyReward | None
    user_errors: list[UserErrorType]


@strawberry.type
class LoyaltyMemberPayload:
    member: LoyaltyMember | None
    user_errors: list[UserErrorType]


@strawberry.type
class LoyaltyEntryPayload:
    entry: LoyaltyEntry | None
    member: LoyaltyMember | None
    user_errors: list[UserErrorType]


@strawberry.type
class LoyaltyPurchasePayload:
    order_id: str | None
    points: int | None
    locked: bool | None
    member: LoyaltyMember | None
    user_errors: list[UserErrorType]


@strawberry.type
class LoyaltyReferralPayload:
    entries: list[LoyaltyEntry]
    user_errors: list[UserErrorType]


@strawberry.input
class CreateLoyaltyProgramInput:
    name: str
    currency: str = "JPY"
    expiry_mode: str = strawberry.field(default="days", description="days, end_of_month, end_of_year or never")
    expiry_days: int | None = 365
    lock_days: int = 0
    downgrade_mode: str = strawberry.field(default="automatic", description="none, automatic or periodic")


@strawberry.input
class UpsertLoyaltyTierInput:
    program_id: strawberry.ID
    name: str
    threshold: int
    multiplier: float = 1.0


@strawberry.input
class CreateEarningRuleInput:
    program_id: strawberry.ID
    name: str
    kind: str = strawberry.field(description="purchase, activity or referral")
    points: int
    per_amount: int | None = strawberry.field(default=None, description="purchase rules: `points` per this much money")
    excluded_categories: list[str] | None = None
    activity_type: str | None = None
    limit_count: int | None = None
    limit_period: str | None = strawberry.field(default=None, description="day, week or month")
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None


@strawberry.input
class CreateLoyaltyRewardInput:
    program_id: strawberry.ID
    name: str
    cost: int
    stock: int | None = None
    per_member_limit: int | None = None
    min_tier_id: strawberry.ID | None = None


@strawberry.input
class SetEarningRuleActiveInput:
    rule_id: strawberry.ID
    active: bool


@strawberry.input(description="Only the fields sent change.")
class UpdateLoyaltyRewardInput:
    reward_id: strawberry.ID
    name: str | None = strawberry.UNSET
    cost: int | None = strawberry.UNSET
    stock: int | None = strawberry.UNSET
    per_member_limit: int | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET


@strawberry.input
class EnrollMemberInput:
    program_id: strawberry.ID
    contact_id: strawberry.ID


@strawberry.input
class EarnPointsInput:
    member_id: strawberry.ID
    amount: int
    reason: str | None = None
    idempotency_key: str | None = strawberry.field(default=None, description="The same key returns the original entry.")


@strawberry.input
class SpendPointsInput:
    member_id: strawberry.ID
    amount: int
    reason: str | None = None
    idempotency_key: str | None = strawberry.field(default=None, description="The same key returns the original entry.")


@strawberry.input
class AdjustPointsInput:
    member_id: strawberry.ID
    amount: int = strawberry.field(description="Positive adds points, negative removes them.")
    reason: str | None = strawberry.field(default=None, description="Required: why the balance is corrected.")
    idempotency_key: str | None = None


@strawberry.input
class PurchaseLineInput:
    category: str | None = None
    amount: int = strawberry.field(description="In minor units of the program's currency (yen for JPY).")


@strawberry.input
class RecordPurchaseInput:
    member_id: strawberry.ID
    order_id: str
    lines: list[PurchaseLineInput]
    purchased_at: dt.datetime | None = None


@strawberry.input
class RefundPurchaseInput:
    program_id: strawberry.ID
    order_id: str


@strawberry.input
class RedeemRewardInput:
    member_id: strawberry.ID
    reward_id: strawberry.ID
    idempotency_key: str | None = None


@strawberry.input
class RecordReferralInput:
    referrer_member_id: strawberry.ID
    referred_member_id: strawberry.ID
