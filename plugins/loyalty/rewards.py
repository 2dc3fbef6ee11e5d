"""Rewards: the catalogue a program offers and redeeming them, where stock and points move
together. Separate from the ledger in service.py, which a redemption spends through."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from enishi.plugin import Checker, UnitOfWork, load_for_update

from .models import (
    LoyaltyProgram,
    LoyaltyRedemption,
    LoyaltyReward,
    LoyaltyTier,
)
from .service import hash_request, input_error, locked_member, replay, spend_locked


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


async def redeem(uow: UnitOfWork, member_id: uuid.UUID, reward_id: uuid.UUID, *, key: str | None = None) -> LoyaltyRedemption:
    """Stock and points move together or not at all."""
    member = await locked_member(uow, member_id)
    reward = await load_for_update(uow, LoyaltyReward, reward_id, field="rewardId")
    request_hash = hash_request("redeem", member=member_id, reward=reward_id)
    if (original := await replay(uow, member.program_id, key, request_hash)) is not None:
        return (
            await uow.session.execute(select(LoyaltyRedemption).where(LoyaltyRedemption.entry_id == original.id))
        ).scalar_one()
    if reward.program_id != member.program_id or not reward.active:
        raise input_error("rewardId", "is not available in this member's program", "NOT_FOUND")
    if reward.stock is not None and reward.stock <= 0:
        raise input_error("rewardId", "is out of stock", "OUT_OF_STOCK")
    if reward.per_member_limit is not None:
        taken = (
            await uow.session.execute(
                select(func.count()).where(LoyaltyRedemption.reward_id == reward.id, LoyaltyRedemption.member_id == member.id)
            )
        ).scalar_one()
        if taken >= reward.per_member_limit:
            raise input_error("rewardId", "the member has reached this reward's limit", "LIMIT_REACHED")
    if reward.min_tier_id is not None:
        required = await uow.session.get_one(LoyaltyTier, reward.min_tier_id)
        current = await uow.session.get(LoyaltyTier, member.tier_id) if member.tier_id else None
        if current is None or current.threshold < required.threshold:
            raise input_error("rewardId", f"needs tier {required.name} or higher", "TIER_TOO_LOW")
    entry = await spend_locked(
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
