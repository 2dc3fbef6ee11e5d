"""Retention: how long each kind of record is kept, and the sweep that anonymises or deletes what
has outlived its period. Plugins say which of their records a rule may cover
(`enishi_retainable_entities`); compliance sets one rule per entity (contacts 36 months after their
last activity, tickets 60 months after they closed, ledger entries 84 months per accounting law).

The sweep (the `privacy.retention_sweep` job, or `runRetentionSweep`) is idempotent and safe on
several workers at once: a record is locked, asked about again (a worker that waited for the lock
sees what the one holding it did), then changed, and recorded once (`privacy_retention_item`,
unique). It skips records under a legal hold (a person: any of their records held) and people with
an open data-subject request, and counts per rule and run what it did and skipped. A person is
anonymised by the erasure itself (an approved request on the `retention` channel, run like any
other: every plugin's part, the subject's key destroyed last). `preview` is the dry run: what the
next sweep would do, reading only."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select

from enishi.plugin import Checker, RetainableEntity, UnitOfWork

from . import execution, intake
from .deadlines import add_months
from .events import RETENTION_APPLIED
from .models import OPEN_STATUSES, PrivacyLegalHold, PrivacyRequest
from .retention_models import PrivacyRetentionCount, PrivacyRetentionItem, PrivacyRetentionRule, PrivacyRetentionRun
from .service import fail

BATCH = 200
MAX_PERIOD_MONTHS = 1200
DONE = ("completed", "completed_with_exceptions")


def entities(runtime) -> dict[str, RetainableEntity]:
    return {entity.name: entity for _, entity in runtime.plugins.contributions("enishi_retainable_entities")}


def cutoff(settings, now: dt.datetime, months: int) -> dt.datetime:
    """Records whose period began at or before this instant have outlived it: `months` calendar
    months before now, in the business's time zone (29 Feb less 12 months is 28 Feb)."""
    local = now.astimezone(settings.zone)
    day = add_months(local.date(), -months)
    return dt.datetime.combine(day, local.timetz()).astimezone(dt.UTC)


def _check_rule(check: Checker, runtime, data: dict, entity_name: str, action: str | None) -> None:
    entity = entities(runtime).get(entity_name)
    if entity is None:
        check.fail("entity", f"not a retainable entity: one of {', '.join(sorted(entities(runtime)))}", "UNKNOWN_ENTITY")
    elif action is not None and action not in entity.actions:
        check.fail("action", f"{entity_name} can be: {', '.join(entity.actions)}", "INVALID_ACTION")
    months = data.get("period_months")
    if months is not None and not 1 <= months <= MAX_PERIOD_MONTHS:
        check.fail("periodMonths", f"must be between 1 and {MAX_PERIOD_MONTHS}", "OUT_OF_RANGE")


async def create_rule(uow: UnitOfWork, data: dict) -> PrivacyRetentionRule:
    check = Checker()
    basis = check.text(data, "basis", max_length=300, required=True)
    entity_name, action = data["entity"], data["action"]
    if data.get("period_months") is None:
        check.fail("periodMonths", "is required", "REQUIRED")
    _check_rule(check, uow.runtime, data, entity_name, action)
    existing = await uow.session.execute(select(PrivacyRetentionRule.id).where(PrivacyRetentionRule.entity == entity_name))
    if existing.first() is not None:
        check.fail("entity", "this entity has a rule already: update it", "DUPLICATE")
    check.done()
    now = uow.clock.now()
    rule = PrivacyRetentionRule(
        entity=entity_name,
        action=action,
        period_months=data["period_months"],
        basis=basis,
        active=data.get("active", True) is not False,
        created_by=uow.actor_id,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(rule)
    await uow.session.flush()
    return rule


async def _rule_for_update(uow: UnitOfWork, rule_id) -> PrivacyRetentionRule:
    rule = (
        await uow.session.execute(select(PrivacyRetentionRule).where(PrivacyRetentionRule.id == rule_id).with_for_update())
    ).scalar_one_or_none()
    if rule is None:
        raise fail("id", "no such retention rule", "NOT_FOUND")
    return rule


async def update_rule(uow: UnitOfWork, rule_id, data: dict) -> PrivacyRetentionRule:
    rule = await _rule_for_update(uow, rule_id)
    check = Checker()
    basis = check.text(data, "basis", max_length=300) if data.get("basis") is not None else None
    _check_rule(check, uow.runtime, data, rule.entity, data.get("action"))
    check.done()
    for name, value in (("action", data.get("action")), ("period_months", data.get("period_months")), ("basis", basis)):
        if value is not None:
            setattr(rule, name, value)
    if data.get("active") is not None:
        rule.active = data["active"]
    rule.updated_at = uow.clock.now()
    return rule


async def delete_rule(uow: UnitOfWork, rule_id) -> PrivacyRetentionRule:
    rule = await _rule_for_update(uow, rule_id)
    await uow.session.delete(rule)
    return rule


@dataclass
class Plan:
    """What a sweep does under one rule: the records to change, and those it leaves, with why."""

    rule: PrivacyRetentionRule
    entity: RetainableEntity
    cutoff: dt.datetime
    apply: list[tuple[uuid.UUID, uuid.UUID | None]] = field(default_factory=list)
    held: list[uuid.UUID] = field(default_factory=list)
    open_request: list[uuid.UUID] = field(default_factory=list)


async def _blocked(session, today: dt.date, entity: RetainableEntity, candidates) -> tuple[set, set]:
    """The records among `candidates` kept by a legal hold, and the people with an open request."""
    if not candidates:
        return set(), set()
    people = {contact_id for _, contact_id in candidates if contact_id is not None}
    active = PrivacyLegalHold.released_at.is_(None) & (PrivacyLegalHold.until.is_(None) | (PrivacyLegalHold.until >= today))
    if entity.person:  # any record of theirs held keeps the person
        held_rows = select(PrivacyLegalHold.contact_id).where(active, PrivacyLegalHold.contact_id.in_(people))
    else:
        held_rows = select(PrivacyLegalHold.record_id).where(
            active, PrivacyLegalHold.entity == entity.table, PrivacyLegalHold.record_id.in_([r for r, _ in candidates])
        )
    held = set((await session.execute(held_rows)).scalars())
    asking = set(
        (
            await session.execute(
                select(PrivacyRequest.contact_id).where(
                    PrivacyRequest.contact_id.in_(people), PrivacyRequest.status.in_(OPEN_STATUSES)
                )
            )
        ).scalars()
    )
    return held, asking


async def _split(session, settings, now, plan: Plan, candidates) -> None:
    held, asking = await _blocked(session, now.astimezone(settings.zone).date(), plan.entity, candidates)
    for record_id, contact_id in candidates:
        if record_id in held or (plan.entity.person and contact_id in held):
            plan.held.append(record_id)
        elif contact_id in asking:
            plan.open_request.append(record_id)
        else:
            plan.apply.append((record_id, contact_id))


async def plans(runtime, session) -> list[Plan]:
    """Every active rule's plan, as of now (rules of entities no installed plugin declares are skipped)."""
    now = runtime.clock.now()
    known = entities(runtime)
    rules = (
        await session.execute(
            select(PrivacyRetentionRule).where(PrivacyRetentionRule.active.is_(True)).order_by(PrivacyRetentionRule.entity)
        )
    ).scalars()
    found = []
    for rule in rules:
        if (entity := known.get(rule.entity)) is None or rule.action not in entity.actions:
            continue
        plan = Plan(rule, entity, cutoff(runtime.settings, now, rule.period_months))
        await _split(session, runtime.settings, now, plan, await entity.due(session, plan.cutoff, rule.action))
        found.append(plan)
    return found


async def preview(runtime) -> list[Plan]:
    """The dry run: what a sweep now would do. Reads only."""
    async with runtime.read_session() as session:
        return await plans(runtime, session)


async def sweep(runtime, actor_id=None) -> uuid.UUID:
    """Apply every active rule; returns the run's id. Each batch is its own transaction."""
    async with runtime.unit_of_work(actor_id) as uow:
        run = PrivacyRetentionRun(actor_id=actor_id, started_at=uow.clock.now())
        uow.session.add(run)
    async with runtime.read_session() as session:
        planned = await plans(runtime, session)
    for plan in planned:
        count = PrivacyRetentionCount(
            run_id=run.id,
            rule_id=plan.rule.id,
            entity=plan.entity.name,
            action=plan.rule.action,
            period_months=plan.rule.period_months,
            cutoff=plan.cutoff,
            applied=0,
            held=len(plan.held),
            open_request=len(plan.open_request),
            failed=0,
        )
        records = [record_id for record_id, _ in plan.apply]
        for start in range(0, len(records), BATCH):
            batch = records[start : start + BATCH]
            if plan.entity.person:
                for contact_id in batch:
                    outcome = await _erase_person(runtime, actor_id, run.id, plan, contact_id)
                    count.applied += outcome == "applied"
                    count.failed += outcome == "failed"
            else:
                count.applied += await _apply_batch(runtime, actor_id, run.id, plan, batch)
        async with runtime.unit_of_work(actor_id) as uow:
            uow.session.add(count)
    async with runtime.unit_of_work(actor_id) as uow:
        finished = await uow.session.get_one(PrivacyRetentionRun, run.id)
        finished.finished_at = uow.clock.now()
    return run.id


async def _still_due(uow: UnitOfWork, plan: Plan, record_ids) -> list[tuple]:
    """Lock the records, then ask again: a worker that waited here sees what the one before it
    committed (a new statement, a new snapshot), and holds or requests that appeared since."""
    await plan.entity.due(uow.session, plan.cutoff, plan.rule.action, record_ids)
    again = Plan(plan.rule, plan.entity, plan.cutoff)
    await _split(
        uow.session,
        uow.settings,
        uow.clock.now(),
        again,
        await plan.entity.due(uow.session, plan.cutoff, plan.rule.action, record_ids),
    )
    return again.apply


def _items(uow: UnitOfWork, run_id, plan: Plan, record_ids, request_id=None) -> None:
    uow.session.add_all(
        PrivacyRetentionItem(
            run_id=run_id,
            rule_id=plan.rule.id,
            entity=plan.entity.name,
            record_id=record_id,
            action=plan.rule.action,
            request_id=request_id,
            at=uow.clock.now(),
        )
        for record_id in record_ids
    )


async def _apply_batch(runtime, actor_id, run_id, plan: Plan, batch) -> int:
    async with runtime.unit_of_work(actor_id) as uow:
        records = [record_id for record_id, _ in await _still_due(uow, plan, batch)]
        if not records:
            return 0
        assert plan.entity.apply is not None  # only a person has none
        await plan.entity.apply(uow, plan.rule.action, records)
        _items(uow, run_id, plan, records)
        await uow.session.flush()
        await uow.emit(RETENTION_APPLIED, run_id, {"entity": plan.entity.name, "action": plan.rule.action, "count": len(records)})
    return len(records)


async def _erase_person(runtime, actor_id, run_id, plan: Plan, contact_id) -> str | None:
    """Anonymise a person: open the erasure and take them out of use in one transaction (a second
    worker then finds them gone), then run it as any erasure runs."""
    async with runtime.unit_of_work(actor_id) as uow:
        if not await _still_due(uow, plan, [contact_id]):
            return None
        request = await intake.retention_erasure(uow, contact_id, f"retention rule {plan.rule.id} ({plan.rule.basis})")
        await execution.take_out_of_use(uow, contact_id)
        _items(uow, run_id, plan, [contact_id], request.id)
        await uow.session.flush()
        await uow.emit(RETENTION_APPLIED, run_id, {"entity": plan.entity.name, "action": plan.rule.action, "count": 1})
    await execution.execute(runtime, request.id, actor_id)
    async with runtime.read_session() as session:
        status = (await session.execute(select(PrivacyRequest.status).where(PrivacyRequest.id == request.id))).scalar_one()
    return "applied" if status in DONE else "failed"


async def scheduled_sweep(runtime) -> None:
    await sweep(runtime)
