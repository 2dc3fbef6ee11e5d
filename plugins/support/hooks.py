"""Bundled plugin `support`: tickets, SLA clocks on business calendars, escalation, CSAT, KB, metrics."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.routing import Route

from enishi.plugin import (
    ActivityType,
    Connection,
    ErasureReport,
    MergeMove,
    Permission,
    PersonalDataField,
    ScheduledJob,
    batch_field,
    hookimpl,
    survey_answer_response,
    survey_form,
    survey_refusal,
)

from . import (
    configuration,
    csat,
    erasure,
    escalation,
    events,
    extract,
    knowledge_base,
    models,
    retention,
    schema,
    sensitive,
    service,
    signals,
    types,
    workflow_steps,
)

AGENTS = ("manager", "support")


@hookimpl
def enishi_migrations():
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def enishi_graphql_types():
    return [types.SupportTicket, types.SupportGroup, types.SupportKbArticle]


@hookimpl
def enishi_graphql_query():
    return [schema.SupportQuery]


@hookimpl
def enishi_graphql_mutation():
    return [schema.SupportMutation]


@hookimpl
def enishi_graphql_type_fields():
    return [
        (
            "Contact",
            batch_field(
                schema.contact_tickets,
                name="tickets",
                description="Support tickets (support plugin).",
                graphql_type=Connection[types.SupportTicket],
            ),
        ),
        (
            "Account",
            batch_field(
                schema.account_tickets,
                name="tickets",
                description="Support tickets (support plugin).",
                graphql_type=Connection[types.SupportTicket],
            ),
        ),
    ]


@hookimpl
def enishi_permissions():
    return [
        Permission(
            "support.read",
            "See tickets and published knowledge base articles",
            ("manager", "sales", "marketing", "support", "compliance", "integration"),
            "tickets:read",
        ),
        Permission(
            "support.agent",
            "Work tickets: create, reply, assign, merge, macros, KB drafts",
            (*AGENTS, "integration"),
            "tickets:write",
        ),
        # Apart from support.agent so that a token can work tickets without seeing what agents
        # write to each other about the customer.
        Permission("support.internal", "Read and write internal notes on tickets", (*AGENTS, "integration"), "tickets:internal"),
        Permission(
            "support.configure",
            "Manage SLA policies, calendars, escalation rules, groups, macros, KB categories",
            ("manager",),
            "tickets:configure",
        ),
        Permission("support.metrics", "See support metrics", AGENTS, "tickets:read"),
    ]


@hookimpl
def enishi_activity_types():
    return [ActivityType("support.message", "Support message", "サポート対応")]


@hookimpl
def enishi_scheduled_jobs():
    return [
        ScheduledJob(
            "support.escalations", dt.timedelta(minutes=1), escalation.sweep_escalations, "fire SLA warnings and escalations"
        ),
        ScheduledJob("support.auto_close", dt.timedelta(hours=1), service.close_solved, "close tickets solved 4 days ago"),
        ScheduledJob("support.csat", dt.timedelta(minutes=10), csat.send_surveys, "send CSAT surveys a day after solving"),
    ]


CSAT_TITLE = "ご意見をお聞かせください / How did we do?"
CSAT_SCALE = range(1, 6)


async def _survey_page(request: Request):
    """GET /support/csat/{token}: the page the mailed link opens (the kit's survey page)."""
    async with request.app.state.runtime.read_session() as session:
        status = await csat.csat_status(session, request.path_params["token"])
    if status != "sent":
        return survey_refusal("ALREADY_ANSWERED" if status == "answered" else "INVALID_TOKEN", page_title=CSAT_TITLE)
    return survey_form(["ご対応はいかがでしたか？ / How did we do?"], CSAT_SCALE, field="rating", page_title=CSAT_TITLE)


async def _csat_answer(request: Request):
    """POST /support/csat/{token}: {"rating": 1-5, "comment": "…"} as JSON, or the page's form."""

    async def submit(rating: int, comment: str | None):
        async with request.app.state.runtime.unit_of_work() as uow:
            await csat.submit_csat(uow, request.path_params["token"], rating, comment)

    return await survey_answer_response(
        request, submit, field="rating", page_title=CSAT_TITLE, messages={400: "1〜5を選んでください。 / Choose 1 to 5."}
    )


@hookimpl
def enishi_event_types():
    return events.EVENT_TYPES


@hookimpl
def enishi_http_routes():
    return [
        Route("/support/csat/{token}", _survey_page, methods=["GET"]),
        Route("/support/csat/{token}", _csat_answer, methods=["POST"]),
    ]


@hookimpl
async def enishi_deliver_event(event, runtime):
    if event.is_(events.CSAT_REQUESTED):
        await csat.mail_survey(runtime, event)


@hookimpl
def enishi_personal_data():
    return [
        PersonalDataField("support_ticket", "requester_id", "user.unique_id", purposes=("support",), erasure="anonymise"),
        PersonalDataField("support_ticket", "sealed_subject", "user.content", purposes=("support",), erasure="shred"),
        PersonalDataField("support_ticket", "sealed_custom_fields", "user", purposes=("support",), erasure="shred"),
        # Shredded with the requester's ticket; the person's own messages on other tickets (a CC) are deleted.
        PersonalDataField("support_article", "sealed_body", "user.content", purposes=("support",), erasure="shred"),
        PersonalDataField("support_csat", "sealed_comment", "user.content", purposes=("support",), erasure="shred"),
    ]


@hookimpl
async def enishi_merge(uow, entity, survivor_id, merged_ids, dry_run):
    column = {"contact": models.SupportTicket.requester_id, "account": models.SupportTicket.account_id}[entity]
    tickets = (await uow.session.execute(select(models.SupportTicket).where(column.in_(merged_ids)))).scalars().all()
    if not dry_run:
        for ticket in tickets:
            setattr(ticket, column.key, survivor_id)
        await uow.session.flush()
    return [MergeMove("support", "support_ticket", len(tickets))]


@hookimpl
async def enishi_subject_collect(uow, subject):
    tickets = (
        (
            await uow.session.execute(
                select(models.SupportTicket)
                .where(models.SupportTicket.requester_id == subject.contact_id)
                .order_by(models.SupportTicket.number)
            )
        )
        .scalars()
        .all()
    )
    if not tickets:
        return None
    export = []
    for ticket in tickets:
        # Only the person's own messages and the public replies to them; internal notes and other
        # people's messages (a CC) are not theirs.
        articles = (
            await uow.session.execute(
                select(models.SupportArticle)
                .where(models.SupportArticle.ticket_id == ticket.id, models.SupportArticle.public.is_(True))
                .order_by(models.SupportArticle.created_at)
            )
        ).scalars()
        export.append(
            {
                "number": ticket.number,
                "subject": ticket.subject,
                "status": ticket.status,
                "created_at": ticket.created_at.isoformat(),
                "messages": [
                    {"from": a.author_type, "body": a.body, "at": a.created_at.isoformat()}
                    for a in articles
                    if a.author_type == "agent" or a.author_contact_id in (None, subject.contact_id)
                ],
            }
        )
    return {"tickets": export}


@hookimpl
def enishi_holdable_types():
    return ["support_ticket"]


@hookimpl
def enishi_retainable_entities():
    return [retention.RETAINABLE]


@hookimpl
def enishi_extract_sources():
    return [extract.SOURCE]


@hookimpl
def enishi_sensitive_capable_fields():
    return sensitive.CAPABLE_FIELDS


@hookimpl
async def enishi_subject_erase(uow, subject):
    report = ErasureReport("support")
    tickets = (
        (
            await uow.session.execute(
                select(models.SupportTicket.id).where(models.SupportTicket.requester_id == subject.contact_id)
            )
        )
        .scalars()
        .all()
    )
    kept = report.hold_back(subject, "support_ticket", tickets)
    for ticket_id in kept:  # a held ticket keeps its messages too
        hold = subject.hold_on("support_ticket", ticket_id)
        messages = (
            await uow.session.execute(
                select(func.count()).select_from(models.SupportArticle).where(models.SupportArticle.ticket_id == ticket_id)
            )
        ).scalar_one()
        report.retain("support_article", messages, hold["basis"], hold.get("until"), hold.get("reference"), legal_hold=True)
    report.add_counts(await erasure.erase_requester(uow, subject.contact_id, kept))
    return report


DEMO_GROUP = "一次対応 / Tier 1"


async def _demo_desk(uow) -> None:
    hours = [{"weekday": day, "opens": "09:00", "closes": "18:00"} for day in ("mon", "tue", "wed", "thu", "fri")]
    calendar = await configuration.create_calendar(uow, {"name": "平日 9-18", "weekly_hours": hours, "holiday_country": "JP"})
    targets = {
        "urgent": {"first_reply": 60, "resolution": 480},
        "high": {"first_reply": 120, "resolution": 960},
        "normal": {"first_reply": 240, "next_reply": 480, "resolution": 2400},
        "low": {"first_reply": 480},
    }
    await configuration.create_policy(
        uow,
        {
            "name": "Standard",
            "calendar_id": calendar.id,
            "targets": [
                {"priority": priority, "timer": timer, "minutes": minutes}
                for priority, timers in targets.items()
                for timer, minutes in timers.items()
            ],
        },
    )
    await configuration.create_group(uow, DEMO_GROUP)
    await configuration.create_macro(
        uow, {"name": "解決済みにする", "reply": "ご連絡ありがとうございました。", "status": "solved"}
    )
    for article in ("パスワードの再設定方法", "請求書の再発行", "How to export contacts to Excel"):
        await knowledge_base.save_kb_article(
            uow,
            {
                "title": article,
                "body": f"{article} — 手順 / steps.",
                "locale": "en" if article.isascii() else "ja",
                "status": "published",
            },
        )


@hookimpl
async def enishi_demo_data(uow, rng, account_ids, contact_ids):
    # `enishi demo --force` adds people on top of an earlier demo: the desk is set up only once.
    if not (await uow.session.execute(select(models.SupportGroup.id).where(models.SupportGroup.name == DEMO_GROUP))).first():
        await _demo_desk(uow)
    for contact_id in rng.sample(contact_ids, k=max(len(contact_ids) // 7, 1)):
        ticket = await service.create_ticket(
            uow,
            {
                "subject": rng.choice(["ログインできません", "請求書が届かない", "CSV import fails"]),
                "priority": rng.choice(["low", "normal", "normal", "high", "urgent"]),
                "requester_id": contact_id,
                "body": "お問い合わせ内容 / details",
            },
        )
        if rng.random() < 0.6:
            await service.reply(uow, ticket.id, "確認いたします。 / We are looking into it.")


@hookimpl
async def enishi_customer_signals(session, kind, customer_ids, since, now):
    return await signals.customer_signals(session, kind, customer_ids, since, now)


@hookimpl
def enishi_workflow_step_types():
    return workflow_steps.STEP_TYPES
