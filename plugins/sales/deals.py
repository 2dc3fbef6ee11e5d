"""Deals: the rules of creating, changing and moving them through their pipeline's stages, their
contact roles, and the activity that keeps them from rotting. No GraphQL here."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, update

from enishi.plugin import (
    Checker,
    Contact,
    InputError,
    UnitOfWork,
    User,
    UserError,
    live_ids,
    load_for_update,
    log_activity,
    new_id,
)

from . import events
from .models import CONTACT_ROLES, FORECAST_CATEGORIES, SalesDeal, SalesDealContact, SalesPipeline, SalesStage, SalesStageChange
from .pipelines import first_open_stage, stage_of
from .tax import CURRENCY_DIGITS, DEFAULT_CURRENCY
from .teams import assignee, check_account

DEFAULT_LOST_REASONS = ("price", "timing", "competitor", "no_budget", "no_decision", "product_fit", "other")
MAX_COMPETITORS = 20
STAGE_ACTIVITY = "sales.deal_stage_changed"
CREATED_ACTIVITY = "sales.deal_created"
OWN_ACTIVITIES = (STAGE_ACTIVITY, CREATED_ACTIVITY)


def lost_reasons(settings) -> tuple[str, ...]:
    """The configured lost reasons (`[extra] sales_lost_reasons = [...]`), or the defaults."""
    return tuple(settings.extra.get("sales_lost_reasons") or DEFAULT_LOST_REASONS)


def _check_fields(check: Checker, data: dict) -> dict:
    """The plain fields of a deal input that are present, checked."""
    values: dict = {}
    if "name" in data:
        values["name"] = check.text(data, "name", max_length=200, required=True)
    for field, length in (("department", 200), ("source", 100), ("next_step", 500)):
        if field in data:
            values[field] = check.text(data, field, max_length=length)
    if "amount" in data:
        if data["amount"] is None or data["amount"] < 0:
            check.fail("amount", "must be zero or more (minor units of the currency)", "OUT_OF_RANGE")
        values["amount"] = data["amount"]
    if "currency" in data:
        if data["currency"] not in CURRENCY_DIGITS:
            check.fail("currency", f"must be an ISO 4217 code among: {', '.join(CURRENCY_DIGITS)}", "INVALID_CHOICE")
        values["currency"] = data["currency"]
    if "probability" in data:
        if data["probability"] is None or not 0 <= data["probability"] <= 100:
            check.fail("probability", "must be a percentage from 0 to 100", "OUT_OF_RANGE")
        values["probability"] = data["probability"]
    if "forecast_category" in data:
        if data["forecast_category"] is None:
            check.fail("forecast_category", f"must be one of: {', '.join(FORECAST_CATEGORIES)}", "REQUIRED")
        values["forecast_category"] = check.choice(data, "forecast_category", FORECAST_CATEGORIES)
    if "expected_close_date" in data:
        values["expected_close_date"] = data["expected_close_date"]
    if "competitors" in data:
        competitors = [c.strip() for c in data["competitors"] or [] if c and c.strip()]
        if len(competitors) > MAX_COMPETITORS or any(len(c) > 200 for c in competitors):
            check.fail("competitors", f"at most {MAX_COMPETITORS} names of at most 200 characters", "TOO_LONG")
        values["competitors"] = competitors
    if "custom_fields" in data:
        values["custom_fields"] = check.custom_fields(data) or {}
    return values


async def _check_owner(uow: UnitOfWork, check: Checker, owner_id) -> None:
    if owner_id is not None:
        owner = await uow.session.get(User, owner_id)
        if owner is None or not owner.is_active:
            check.fail("owner_id", "no such active user", "NOT_FOUND")


async def create_deal(uow: UnitOfWork, data: dict, scope: uuid.UUID | None) -> SalesDeal:
    """A deal in its pipeline's first open stage (or the open `stage_id`). Without `owner_id` it
    goes to the account team's member in the pipeline's team role for the deal's department
    (see `teams.assignee`), else to whoever creates it."""
    check = Checker()
    values = _check_fields(check, {"currency": DEFAULT_CURRENCY, **data})
    if "name" not in values:
        check.fail("name", "is required", "REQUIRED")
    if "amount" not in values:
        check.fail("amount", "is required", "REQUIRED")
    await _check_owner(uow, check, data.get("owner_id"))
    pipeline = await uow.session.get(SalesPipeline, data["pipeline_id"])
    stage = None
    if pipeline is None:
        check.fail("pipeline_id", "no such pipeline", "NOT_FOUND")
    elif data.get("stage_id") is not None:
        stage = await uow.session.get(SalesStage, data["stage_id"])
        if stage is None or stage.pipeline_id != pipeline.id:
            check.fail("stage_id", "no such stage in this pipeline", "NOT_FOUND")
        elif stage.kind != "open":
            check.fail("stage_id", "a deal starts in an open stage; mark it won or lost afterwards", "STAGE_CLOSED")
    else:
        stage = await first_open_stage(uow, pipeline.id)
    check.done()
    await check_account(uow, data["account_id"], scope)
    assert pipeline is not None  # check.done() raised when it was missing
    if stage is None:  # check_stages keeps an open stage in every pipeline; no constraint does
        raise RuntimeError(f"sales pipeline {pipeline.id}: no open stage")
    if "owner_id" in data:  # given, or explicitly none
        owner_id = data["owner_id"]
    else:
        owner_id = await assignee(uow, data["account_id"], pipeline.team_role, values.get("department")) or uow.actor_id
    now = uow.clock.now()
    values.setdefault("probability", stage.probability)
    values.setdefault("forecast_category", "pipeline")
    deal = SalesDeal(
        account_id=data["account_id"],
        pipeline_id=stage.pipeline_id,
        stage_id=stage.id,
        owner_id=owner_id,
        created_at=now,
        updated_at=now,
        stage_entered_at=now,
        last_activity_at=now,
        **values,
    )
    uow.session.add(deal)
    await uow.session.flush()
    uow.session.add(SalesStageChange(deal_id=deal.id, to_stage_id=stage.id, changed_by_id=uow.actor_id, changed_at=now))
    await log_activity(
        uow,
        {"type": CREATED_ACTIVITY, "summary": f"{deal.name}: {stage.name}", "account_ids": [deal.account_id]},
        source_plugin="sales",
    )
    await uow.emit(
        events.DEAL_CREATED, deal.id, {"account_id": str(deal.account_id), "amount": deal.amount, "currency": deal.currency}
    )
    return deal


async def load_deal(uow: UnitOfWork, deal_id: uuid.UUID, scope: uuid.UUID | None) -> SalesDeal:
    """The deal locked for update, if this scope may see it (NOT_FOUND otherwise)."""
    deal = await load_for_update(uow, SalesDeal, deal_id)
    await check_account(uow, deal.account_id, scope, field="id")
    return deal


async def update_deal(uow: UnitOfWork, deal_id: uuid.UUID, data: dict, scope: uuid.UUID | None) -> SalesDeal:
    deal = await load_deal(uow, deal_id, scope)
    check = Checker()
    values = _check_fields(check, data)
    if "owner_id" in data:
        await _check_owner(uow, check, data["owner_id"])
        values["owner_id"] = data["owner_id"]
    check.done()
    if "account_id" in data and data["account_id"] != deal.account_id:
        await check_account(uow, data["account_id"], scope)
        values["account_id"] = data["account_id"]
    changed = [field for field, value in values.items() if getattr(deal, field) != value]
    if changed:
        for field in changed:
            setattr(deal, field, values[field])
        deal.updated_at = deal.last_activity_at = uow.clock.now()
        await uow.session.flush()
        await uow.emit(events.DEAL_UPDATED, deal.id, {"account_id": str(deal.account_id), "fields": sorted(changed)})
    return deal


async def move_stage(
    uow: UnitOfWork,
    deal_id: uuid.UUID,
    stage_id: uuid.UUID | None,
    scope: uuid.UUID | None,
    *,
    kind: str | None = None,
    close_date: dt.date | None = None,
    lost_reason: str | None = None,
    competitor: str | None = None,
) -> SalesDeal:
    """Move the deal to `stage_id` (or, given only `kind`, to its pipeline's first stage of that
    kind). Entering a won or lost stage needs `close_date`; lost also needs a configured
    `lost_reason`. Records the history, logs a timeline entry on the account and the deal's
    contacts, and emits `deal.stage_changed` (and `deal.won` / `deal.lost`)."""
    deal = await load_deal(uow, deal_id, scope)
    if stage_id is not None:
        stage = await stage_of(uow, stage_id, deal.pipeline_id, "stage_id")
    else:
        first = await uow.session.scalar(
            select(SalesStage)
            .where(SalesStage.pipeline_id == deal.pipeline_id, SalesStage.kind == kind)
            .order_by(SalesStage.position)
            .limit(1)
        )
        if first is None:
            raise InputError([UserError("id", f"the deal's pipeline has no {kind} stage", "NOT_FOUND")])
        stage = first
    if kind is not None and stage.kind != kind:
        raise InputError([UserError("stage_id", f"must be a {kind} stage", "WRONG_STAGE_KIND")])
    check = Checker()
    if stage.kind in ("won", "lost") and close_date is None:
        check.fail("close_date", "a won or lost deal needs its close date", "REQUIRED")
    if stage.kind == "lost":
        if lost_reason not in lost_reasons(uow.settings):
            check.fail("lost_reason", f"must be one of: {', '.join(lost_reasons(uow.settings))}", "INVALID_CHOICE")
        competitor = check.text({"competitor": competitor}, "competitor", max_length=200)
    if stage.id == deal.stage_id:
        check.fail("stage_id", "the deal is already in this stage", "UNCHANGED")
    check.done()
    now = uow.clock.now()
    previous = await uow.session.get(SalesStage, deal.stage_id)
    assert previous is not None  # the deal's stage_id is a foreign key to it
    deal.stage_id, deal.probability = stage.id, stage.probability
    deal.stage_entered_at = deal.updated_at = deal.last_activity_at = now
    deal.close_date = close_date if stage.kind != "open" else None
    deal.lost_reason = lost_reason if stage.kind == "lost" else None
    deal.lost_to_competitor = competitor if stage.kind == "lost" else None
    if stage.kind != "open":
        deal.forecast_category = "closed" if stage.kind == "won" else "omitted"
    elif previous.kind != "open":
        deal.forecast_category = "pipeline"
    uow.session.add(
        SalesStageChange(
            deal_id=deal.id, from_stage_id=previous.id, to_stage_id=stage.id, changed_by_id=uow.actor_id, changed_at=now
        )
    )
    await uow.session.flush()
    contact_ids = list(await uow.session.scalars(select(SalesDealContact.contact_id).where(SalesDealContact.deal_id == deal.id)))
    await log_activity(
        uow,
        {
            "type": STAGE_ACTIVITY,
            "summary": f"{deal.name}: {previous.name} → {stage.name}",
            "account_ids": [deal.account_id],
            "contact_ids": contact_ids,
        },
        source_plugin="sales",
    )
    account = str(deal.account_id)
    await uow.emit(
        events.DEAL_STAGE_CHANGED,
        deal.id,
        {
            "account_id": account,
            "pipeline_id": str(deal.pipeline_id),
            "from_stage_id": str(previous.id),
            "to_stage_id": str(stage.id),
        },
    )
    if stage.kind == "won" and close_date is not None:
        payload = {"account_id": account, "amount": deal.amount, "currency": deal.currency, "close_date": close_date.isoformat()}
        await uow.emit(events.DEAL_WON, deal.id, payload)
    elif stage.kind == "lost" and close_date is not None:
        payload = {"account_id": account, "reason": lost_reason, "close_date": close_date.isoformat()}
        await uow.emit(events.DEAL_LOST, deal.id, payload)
    return deal


async def set_contact_role(uow: UnitOfWork, deal_id: uuid.UUID, data: dict, scope: uuid.UUID | None) -> SalesDealContact:
    """Give a contact a role on the deal (default `influencer`) or change what is given of it:
    the role, whether they are the primary contact, the note about them (sealed)."""
    deal = await load_deal(uow, deal_id, scope)
    check = Checker()
    role = check.choice(data, "role", CONTACT_ROLES)
    note = check.text(data, "note", max_length=2000)
    if not await live_ids(uow, Contact, [data["contact_id"]]):
        check.fail("contact_id", "no such contact", "NOT_FOUND")
    check.done()
    if data.get("is_primary"):  # at most one primary contact per deal
        await uow.session.execute(update(SalesDealContact).where(SalesDealContact.deal_id == deal.id).values(is_primary=False))
    link = await uow.session.scalar(
        select(SalesDealContact).where(SalesDealContact.deal_id == deal.id, SalesDealContact.contact_id == data["contact_id"])
    )
    if link is None:
        link = SalesDealContact(
            id=new_id(),
            deal_id=deal.id,
            contact_id=data["contact_id"],
            role=role or "influencer",
            is_primary=False,
            created_at=uow.clock.now(),
        )
        uow.session.add(link)
    elif role is not None:  # a change that leaves the role out keeps it
        link.role = role
    if "is_primary" in data:
        link.is_primary = bool(data["is_primary"])
    if "note" in data:
        link.note = note
    deal.last_activity_at = uow.clock.now()
    await uow.session.flush()
    return link


async def remove_contact_role(uow: UnitOfWork, deal_id: uuid.UUID, contact_id: uuid.UUID, scope: uuid.UUID | None) -> bool:
    deal = await load_deal(uow, deal_id, scope)
    link = await uow.session.scalar(
        select(SalesDealContact).where(SalesDealContact.deal_id == deal.id, SalesDealContact.contact_id == contact_id)
    )
    if link is None:
        return False
    await uow.session.delete(link)
    await uow.session.flush()
    return True


async def touch(uow: UnitOfWork, account_ids: list[uuid.UUID], contact_ids: list[uuid.UUID], at: dt.datetime) -> None:
    """An activity on these accounts or contacts is activity on their open deals: they stop rotting."""
    deal_ids = (
        select(SalesDeal.id)
        .where(SalesDeal.account_id.in_(account_ids))
        .union(select(SalesDealContact.deal_id).where(SalesDealContact.contact_id.in_(contact_ids)))
    )
    await uow.session.execute(
        update(SalesDeal)
        .where(SalesDeal.id.in_(deal_ids), SalesDeal.last_activity_at < at)
        .values(last_activity_at=at)
        .execution_options(synchronize_session=False)
    )


async def touch_many(uow: UnitOfWork, touches: list[tuple[list[uuid.UUID], list[uuid.UUID], dt.datetime]]) -> None:
    """`touch` for many activities at once (an import's notes), as (account ids, contact ids, when):
    the deals of all their accounts and contacts found in one statement, each then moved to its
    latest activity (one update per distinct time, none when no deal is touched)."""
    latest: dict[uuid.UUID, dt.datetime] = {}  # an account or contact → its latest activity here
    for account_ids, contact_ids, at in touches:
        for party in (*account_ids, *contact_ids):
            latest[party] = max(at, latest.get(party, at))
    if not latest:
        return
    parties = list(latest)
    deals = await uow.session.execute(
        select(SalesDeal.id, SalesDeal.account_id.label("party"))
        .where(SalesDeal.account_id.in_(parties))
        .union_all(select(SalesDealContact.deal_id, SalesDealContact.contact_id).where(SalesDealContact.contact_id.in_(parties)))
    )
    deal_at: dict[uuid.UUID, dt.datetime] = {}
    for deal_id, party in deals:
        deal_at[deal_id] = max(latest[party], deal_at.get(deal_id, latest[party]))
    for at in sorted(set(deal_at.values())):
        await uow.session.execute(
            update(SalesDeal)
            .where(SalesDeal.id.in_([deal for deal, when in deal_at.items() if when == at]), SalesDeal.last_activity_at < at)
            .values(last_activity_at=at)
            .execution_options(synchronize_session=False)
        )
