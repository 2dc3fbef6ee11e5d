"""Bundled plugin `loyalty`: points ledger, expiry, tiers, earning rules, rewards.

Earns from core activities (`activity.logged`) and from the core's purchases (`purchase.recorded`,
whoever recorded them: `createPurchase`, loyalty's own `recordPurchase`, a shop integration
calling the kit's `record_purchase`); takes points back on `purchase.refunded`."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from sqlalchemy import select

from enishi.plugin import (
    ACTIVITY_LOGGED,
    NON_ADMIN_ROLES,
    PURCHASE_RECORDED,
    PURCHASE_REFUNDED,
    ActivityType,
    ErasureReport,
    MergeMove,
    Permission,
    PersonalDataField,
    ScheduledJob,
    batch_field,
    hookimpl,
)

from . import (
    earning,
    events,
    extract,
    imports,
    jobs,
    models,
    people,
    retention,
    rewards,
    schema,
    segment_terms,
    service,
    signals,
    tiers,
    types,
    workflow_steps,
)


@hookimpl
def enishi_migrations():
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def enishi_graphql_types():
    return [
        types.LoyaltyProgram,
        types.LoyaltyMember,
        types.LoyaltyEntry,
        types.LoyaltyReward,
        types.LoyaltyTier,
        types.LoyaltyEarningRule,
    ]


@hookimpl
def enishi_graphql_query():
    return [schema.LoyaltyQuery]


@hookimpl
def enishi_graphql_mutation():
    return [schema.LoyaltyMutation]


@hookimpl
def enishi_graphql_type_fields():
    return [
        (
            "Contact",
            batch_field(
                schema.contact_loyalty,
                name="loyalty",
                graphql_type=types.LoyaltyMember | None,
                description="Loyalty membership: balance, pending points, tier (loyalty plugin).",
            ),
        )
    ]


@hookimpl
def enishi_import_columns():
    return [imports.POINTS, imports.TIER]


@hookimpl
def enishi_permissions():
    return [
        Permission("loyalty.read", "See memberships, balances and ledgers", NON_ADMIN_ROLES, "loyalty:read"),
        Permission(
            "loyalty.operate",
            "Enrol, earn, spend, record purchases and refunds, redeem",
            ("manager", "sales", "marketing", "support", "integration"),
            "loyalty:write",
        ),
        Permission("loyalty.adjust", "Adjust balances by hand, with a reason", ("manager",), "loyalty:write"),
        Permission(
            "loyalty.configure",
            "Manage programs, tiers, earning rules and rewards",
            ("manager", "marketing"),
            "loyalty:configure",
        ),
    ]


@hookimpl
def enishi_activity_types():
    return [ActivityType("loyalty.tier_changed", "Loyalty tier changed", "会員ランク変更")]


@hookimpl
def enishi_event_types():
    return events.EVENT_TYPES


@hookimpl
def enishi_scheduled_jobs():
    return [
        ScheduledJob("loyalty.unlock", dt.timedelta(hours=1), jobs.unlock_due, "unlock purchase points past their return window"),
        ScheduledJob("loyalty.expire", dt.timedelta(hours=1), jobs.expire_due, "expire lots past their expiry date"),
        ScheduledJob("loyalty.review_tiers", dt.timedelta(days=1), jobs.review_tiers, "periodic tier review (downgrades)"),
    ]


@hookimpl
async def enishi_on_event(event, uow):
    if event.is_(ACTIVITY_LOGGED) and event.entity_id is not None:
        contacts = [uuid.UUID(c) for c in event.payload.get("contact_ids", [])]
        if contacts:
            await earning.award_for_activity(uow, event.payload.get("type"), contacts, str(event.entity_id))
    elif event.is_(PURCHASE_RECORDED) and event.entity_id is not None:
        await earning.earn_for_purchase(uow, event.entity_id, event.payload.get("routing") or {})
    elif event.is_(PURCHASE_REFUNDED) and event.entity_id is not None:
        await earning.reverse_for_refund(uow, event.entity_id)


@hookimpl
async def enishi_on_events(events, uow):
    """Events raised together (an import's notes): the members among their contacts found at once."""
    if events[0].is_(ACTIVITY_LOGGED):
        await earning.award_for_activities(
            uow,
            [
                (event.payload.get("type"), [uuid.UUID(c) for c in event.payload.get("contact_ids", [])], str(event.entity_id))
                for event in events
                if event.entity_id is not None
            ],
        )
    else:
        for event in events:
            await enishi_on_event(event, uow)


@hookimpl
def enishi_retainable_entities():
    return [retention.RETAINABLE]


@hookimpl
def enishi_extract_sources():
    return [extract.SOURCE]


@hookimpl
def enishi_personal_data():
    return [
        PersonalDataField("loyalty_member", "contact_id", "user.unique_id", purposes=("loyalty",), erasure="anonymise"),
        PersonalDataField("loyalty_member", "referral_code", "user.unique_id", purposes=("loyalty",), erasure="anonymise"),
        PersonalDataField(
            "loyalty_entry", "amount", "user.financial", purposes=("loyalty",), provenance="observed", erasure="retain"
        ),
        PersonalDataField(
            "loyalty_entry", "sealed_reason", "user.content", purposes=("loyalty",), provenance="observed", erasure="shred"
        ),
        PersonalDataField(
            "loyalty_purchase", "points", "user.financial", purposes=("loyalty",), provenance="observed", erasure="retain"
        ),
    ]


@hookimpl
async def enishi_merge(uow, entity, survivor_id, merged_ids, dry_run):
    if entity != "contact":
        return []
    return [MergeMove("loyalty", "loyalty_member", await people.merge_memberships(uow, survivor_id, merged_ids, dry_run))]


@hookimpl
async def enishi_subject_collect(uow, subject):
    members = (
        (await uow.session.execute(select(models.LoyaltyMember).where(models.LoyaltyMember.contact_id == subject.contact_id)))
        .scalars()
        .all()
    )
    if not members:
        return None
    sections = []
    for member in members:
        program = await uow.session.get(models.LoyaltyProgram, member.program_id)
        entries = (
            await uow.session.execute(
                select(models.LoyaltyEntry).where(models.LoyaltyEntry.member_id == member.id).order_by(models.LoyaltyEntry.seq)
            )
        ).scalars()
        sections.append(
            {
                "program": program.name,
                "enrolled_at": member.enrolled_at.isoformat(),
                "balance": member.balance,
                "ledger": [
                    {
                        "kind": e.kind,
                        "amount": e.amount,
                        "balance_after": e.balance_after,
                        "reason": e.reason,
                        "created_at": e.created_at.isoformat(),
                    }
                    for e in entries
                ],
            }
        )
    return {"memberships": sections}


@hookimpl
async def enishi_subject_erase(uow, subject):
    report = ErasureReport("loyalty")
    report.add_counts(await people.unlink_member(uow, subject.contact_id))
    return report


@hookimpl
async def enishi_demo_data(uow, rng, account_ids, contact_ids):
    program = await service.create_program(uow, {"name": "縁ポイント", "expiry_days": 365})
    for name, threshold, multiplier in (("Bronze", 0, 100), ("Silver", 1000, 100), ("Gold", 5000, 150)):
        await tiers.upsert_tier(uow, program.id, name, threshold, multiplier)
    await earning.create_rule(
        uow,
        program.id,
        {
            "name": "¥100 につき 1 ポイント",
            "kind": "purchase",
            "points": 1,
            "per_amount": 100,
            "excluded_categories": ["shipping"],
        },
    )
    await rewards.create_reward(uow, program.id, {"name": "ギフト券 ¥1,000", "cost": 1000, "stock": 50})
    for n, contact_id in enumerate(rng.sample(contact_ids, k=len(contact_ids) * 2 // 5)):
        member = await service.enroll(uow, program.id, contact_id)
        for order in range(rng.randrange(1, 5)):
            await earning.record_purchase(
                uow,
                member.id,
                f"DEMO-{program.id.hex[:8]}-{n}-{order}",  # order numbers are unique across programs
                [{"category": "goods", "amount": rng.randrange(1000, 300000)}, {"category": "shipping", "amount": 800}],
            )


@hookimpl
async def enishi_customer_signals(session, kind, customer_ids, now):
    return await signals.customer_signals(session, kind, customer_ids, now)


@hookimpl
def enishi_segment_terms():
    return segment_terms.TERMS


@hookimpl
def enishi_workflow_step_types():
    return workflow_steps.STEP_TYPES
