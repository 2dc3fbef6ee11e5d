"""Saved segments: a named, shared filter over customers of one kind (contacts or accounts),
evaluated into a member list with a daily count history.

A segment's filter (`InsightsSegmentFilter`, recorded as JSON) combines with and/or/not:
* the core's own filter of its kind (`contact` or `account`, as the list queries take it);
* `inactiveDays` (no timeline activity for N days), `churnRiskAtLeast` (the stored health
  score), `rfmSegment` (the stored RFM segment names);
* `terms` other plugins add through `enishi_segment_terms` (`{key: "abm.tier", value: "tier_1"}`).

Sensitive personal data (the custom fields `enishi_sensitive_fields` names: the privacy plugin's
register) can never be used: a segment naming one is refused (`SENSITIVE_FIELD`).

Evaluating a segment (on creation, `evaluateSegment`, and the daily `insights.segments` job)
stores who is in it, emits `insights.segment_entered` / `insights.segment_left` for each record
that came in or went out since the last evaluation (for the workflow engine), and records the
day's member count."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping

from sqlalchemy import and_, delete, func, not_, or_, select, true

from enishi.plugin import (
    EventType,
    InputError,
    InvalidArgument,
    PayloadField,
    SegmentTerm,
    UnitOfWork,
    UserError,
    compile_filter,
    new_id,
)

from .health import customer_model, health_column
from .health_models import InsightsHealth, InsightsSegment, InsightsSegmentCount, InsightsSegmentMember
from .models import InsightsRfm
from .rfm import KINDS, rfm_column

MAX_SEGMENT_DEPTH = 5
MAX_RFM_SEGMENTS = 50
_MEMBER = (
    PayloadField("segment_id", str, "the saved segment"),
    PayloadField("contact_id", str | None, "the contact that entered or left (a contact segment)", names_contact=True),
    PayloadField("account_id", str | None, "the account that entered or left (an account segment)"),
)
_FIRES = "when a segment is evaluated (created, `evaluateSegment`, the daily `insights.segments` job), in its transaction"
SEGMENT_ENTERED = EventType(
    "insights.segment_entered", "insights_segment", "A customer entered a saved segment.", _MEMBER, fires=_FIRES
)
SEGMENT_LEFT = EventType("insights.segment_left", "insights_segment", "A customer left a saved segment.", _MEMBER, fires=_FIRES)
CORE_FILTER = {"contact": "contacts", "account": "accounts"}


def member_column(kind: str):
    return InsightsSegmentMember.contact_id if kind == "contact" else InsightsSegmentMember.account_id


def _refuse(field: str, message: str, code: str = "INVALID_FILTER"):
    return InputError(UserError(field, message, code))


def _custom_field_keys(definition: Mapping, kind: str, depth: int = 0) -> set[str]:
    """Every custom-field key the segment's core filters name, however deeply nested."""
    keys: set[str] = set()
    core = definition.get(kind)
    pending = [core] if isinstance(core, Mapping) else []
    while pending:
        node = pending.pop()
        keys |= {str(term.get("key")) for term in node.get("customField") or [] if isinstance(term, Mapping)}
        pending += [
            sub for sub in (node.get("and") or []) + (node.get("or") or []) + [node.get("not")] if isinstance(sub, Mapping)
        ]
    for sub in (definition.get("and") or []) + (definition.get("or") or []) + [definition.get("not")]:
        if isinstance(sub, Mapping) and depth < MAX_SEGMENT_DEPTH:
            keys |= _custom_field_keys(sub, kind, depth + 1)
    return keys


async def refuse_sensitive(session, plugins, kind: str, definition: Mapping) -> None:
    """A segment must never sort people by sensitive data (health, beliefs, …), whether or not
    the filter would find anyone: naming such a field at all is refused."""
    if kind != "contact" or not plugins.implementations("enishi_sensitive_fields"):
        return
    answers = await plugins.call("enishi_sensitive_fields", session=session, entity="contact")
    sensitive = {field.removeprefix("custom_fields.") for _, fields in answers for field in fields or ()}
    if named := sorted(_custom_field_keys(definition, "contact") & sensitive):
        raise _refuse(
            "filter.contact.customField",
            f"{', '.join(named)}: sensitive personal data can never be used in a segment",
            "SENSITIVE_FIELD",
        )


def condition(definition: Mapping, kind: str, now: dt.datetime, terms: Mapping[str, SegmentTerm], depth: int = 0):
    """The segment's filter as one SQL condition on the customers of `kind`."""
    if depth > MAX_SEGMENT_DEPTH:
        raise _refuse("filter", f"segment filters nest at most {MAX_SEGMENT_DEPTH} levels", "FILTER_TOO_COMPLEX")
    model = customer_model(kind)
    clauses = []
    for own_kind, plural in CORE_FILTER.items():
        if definition.get(own_kind) is not None:
            if own_kind != kind:
                raise _refuse(f"filter.{own_kind}", f"a segment of {kind}s filters them with `{kind}`")
            clauses.append(compile_filter(plural, definition[own_kind], now))
    if (days := definition.get("inactiveDays")) is not None:
        clauses.append(compile_filter(CORE_FILTER[kind], {"inactiveDays": days}, now))
    if (risk := definition.get("churnRiskAtLeast")) is not None:
        if not isinstance(risk, int) or not 0 <= risk <= 100:
            raise _refuse("filter.churnRiskAtLeast", "a churn risk is from 0 to 100")
        clauses.append(model.id.in_(select(health_column(kind)).where(InsightsHealth.score >= risk)))
    if (names := definition.get("rfmSegment")) is not None:
        if len(names) > MAX_RFM_SEGMENTS:
            raise _refuse("filter.rfmSegment", f"at most {MAX_RFM_SEGMENTS} segment names")
        clauses.append(model.id.in_(select(rfm_column(kind)).where(InsightsRfm.segment.in_(names))))
    for n, term in enumerate(definition.get("terms") or []):
        declared = terms.get(term.get("key"))
        if declared is None:
            raise _refuse(f"filter.terms.{n}.key", f"no installed plugin offers the term {term.get('key')!r}", "UNKNOWN_TERM")
        if kind not in declared.customers:
            raise _refuse(f"filter.terms.{n}.key", f"{declared.key} applies to segments of {', '.join(declared.customers)}")
        try:
            clauses.append(model.id.in_(declared.members(kind, term.get("value"), now)))
        except InvalidArgument as error:
            raise _refuse(f"filter.terms.{n}.value", str(error)) from None
    if definition.get("and"):
        clauses += [condition(sub, kind, now, terms, depth + 1) for sub in definition["and"]]
    if definition.get("or"):
        clauses.append(or_(*(condition(sub, kind, now, terms, depth + 1) for sub in definition["or"])))
    if definition.get("not") is not None:
        clauses.append(not_(condition(definition["not"], kind, now, terms, depth + 1)))
    return and_(true(), *clauses)


def installed_terms(plugins) -> dict[str, SegmentTerm]:
    return {term.key: term for _, term in plugins.contributions("enishi_segment_terms")}


async def create_segment(uow: UnitOfWork, name: str, kind: str, definition: dict) -> InsightsSegment:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise _refuse("name", "a segment needs a name of 1 to 200 characters", "REQUIRED")
    if kind not in KINDS:
        raise _refuse("customer", "contact or account", "INVALID_CHOICE")
    await refuse_sensitive(uow.session, uow.runtime.plugins, kind, definition)
    condition(definition, kind, uow.clock.now(), installed_terms(uow.runtime.plugins))  # refused now, not at the next run
    segment = InsightsSegment(
        name=name, customer=kind, definition=definition, created_by=uow.actor_id, created_at=uow.clock.now()
    )
    uow.session.add(segment)
    await uow.session.flush()
    await evaluate(uow, segment)
    return segment


async def evaluate(uow: UnitOfWork, segment: InsightsSegment) -> tuple[int, int]:
    """Store the segment's members now; emit an event per customer who entered or left; record
    today's count. Returns (entered, left)."""
    now, kind = uow.clock.now(), segment.customer
    model = customer_model(kind)
    where = condition(segment.definition, kind, now, installed_terms(uow.runtime.plugins))
    members = set((await uow.session.execute(select(model.id).where(model.deleted_at.is_(None), where))).scalars())
    column = member_column(kind)
    current = set((await uow.session.execute(select(column).where(InsightsSegmentMember.segment_id == segment.id))).scalars())
    entered, left = members - current, current - members
    if left:
        await uow.session.execute(
            delete(InsightsSegmentMember).where(InsightsSegmentMember.segment_id == segment.id, column.in_(left))
        )
    uow.session.add_all(
        InsightsSegmentMember(id=new_id(), segment_id=segment.id, since=now, **{column.key: owner}) for owner in entered
    )
    for event, owners in ((SEGMENT_ENTERED, entered), (SEGMENT_LEFT, left)):
        for owner in sorted(owners):
            payload = {"segment_id": str(segment.id), "contact_id": None, "account_id": None, f"{kind}_id": str(owner)}
            await uow.emit(event, segment.id, payload)
    segment.evaluated_at = now
    await _record_count(uow, segment.id, now.astimezone(uow.settings.zone).date(), len(members))
    await uow.session.flush()
    return len(entered), len(left)


async def _record_count(uow: UnitOfWork, segment_id: uuid.UUID, day: dt.date, members: int) -> None:
    row = (
        await uow.session.execute(
            select(InsightsSegmentCount).where(InsightsSegmentCount.segment_id == segment_id, InsightsSegmentCount.day == day)
        )
    ).scalar_one_or_none()
    if row is None:
        uow.session.add(InsightsSegmentCount(segment_id=segment_id, day=day, members=members))
    else:
        row.members = members  # the day's last evaluation


async def evaluate_all(runtime) -> int:
    """The `insights.segments` job: every segment evaluated again, each in its own transaction."""
    async with runtime.read_session() as session:
        ids = list((await session.execute(select(InsightsSegment.id).order_by(InsightsSegment.name))).scalars())
    for segment_id in ids:
        async with runtime.unit_of_work() as uow:
            segment = await uow.session.get(InsightsSegment, segment_id, with_for_update=True)
            if segment is not None:
                await evaluate(uow, segment)
    return len(ids)


async def members_of(session, segment_id: uuid.UUID) -> tuple[str, list[uuid.UUID]] | None:
    """`enishi_segment_members`: a segment's kind and members as of its last evaluation."""
    segment = await session.get(InsightsSegment, segment_id)
    if segment is None:
        return None
    column = member_column(segment.customer)
    rows = await session.execute(select(column).where(InsightsSegmentMember.segment_id == segment_id).order_by(column))
    return segment.customer, list(rows.scalars())


async def member_count(session, segment_id: uuid.UUID) -> int:
    return (await session.execute(select(func.count()).where(InsightsSegmentMember.segment_id == segment_id))).scalar_one()
