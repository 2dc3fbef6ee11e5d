"""The core's own hook implementations: it is registered as the plugin named `core`, so it takes
part in every data-subject request and contributes its permissions, activity types and GraphQL
fields (`enishi.schema`) exactly as a plugin would."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from sqlalchemy import delete, exists, func, select, update

from . import gauges, mail, outbox, sign_in_links, throttle, web_sessions
from .auth import NON_ADMIN_ROLES, PUBLIC
from .contributions import (
    ActivityType,
    DataSubject,
    ErasureReport,
    Permission,
    PersonalDataField,
    RetainableEntity,
    ScheduledJob,
    SensitiveCapableField,
)
from .events import CORE_EVENT_TYPES
from .models import (
    Account,
    Activity,
    ActivityKey,
    ActivityTarget,
    Contact,
    ContactAccount,
    ContactCustomDateIndex,
    ContactEmail,
    ContactPhone,
    ContactSearchToken,
    ImportRow,
    Purchase,
    Task,
)
from .plugin_host import hookimpl
from .schema.custom_fields import CustomFieldMutation, CustomFieldQuery
from .schema.exports import ExportMutation
from .schema.imports import ImportMutation, ImportQuery
from .schema.mutations import CoreMutation
from .schema.queries import CoreQuery
from .schema.test_clocks import TestClockMutation, TestClockQuery
from .sealing import people_read
from .services import imports
from .services.contacts import ADDRESS_FIELDS, NAME_FIELDS, PROFILE_FIELDS, custom_field_holders, seal_names
from .services.data_keys import shred_records


@hookimpl
def enishi_migrations():
    return Path(__file__).parent / "db" / "migrations" / "versions"


# tryfirst: pluggy calls the plugin registered last first, and the core is registered first; its
# root fields lead the schema's Query and Mutation, before every plugin's.
@hookimpl(tryfirst=True)
def enishi_graphql_query():
    return [CoreQuery, CustomFieldQuery, ImportQuery, TestClockQuery]


@hookimpl(tryfirst=True)
def enishi_graphql_mutation():
    from .schema.purchases import PurchaseMutation

    return [CoreMutation, CustomFieldMutation, ImportMutation, ExportMutation, PurchaseMutation, TestClockMutation]


@hookimpl
def enishi_graphql_type_fields():
    from .schema import purchases as purchase_schema  # the schema loads strawberry: only when a schema is built

    return purchase_schema.type_fields()


@hookimpl
def enishi_permissions():
    return [
        Permission("crm.read", "Read accounts, contacts, activities and tasks", NON_ADMIN_ROLES, "contacts:read"),
        Permission(
            "crm.write",
            "Create and update accounts and contacts",
            ("manager", "sales", "marketing", "integration"),
            "contacts:write",
        ),
        Permission("crm.delete", "Soft-delete and restore accounts and contacts", ("manager", "sales"), "contacts:delete"),
        Permission("crm.destroy", "Destroy accounts and contacts for good", ("compliance",), "contacts:delete"),
        Permission("crm.merge", "Merge duplicate contacts and accounts", ("manager", "sales"), "contacts:write"),
        Permission("crm.read_deleted", "See soft-deleted records", ("manager", "compliance"), "contacts:read"),
        Permission("crm.configure", "Define the typed custom fields of contacts and accounts", (), "contacts:configure"),
        Permission(
            "crm.read_sensitive",
            "See the sensitive custom fields (要配慮個人情報) of contacts and of plugins' records",
            ("manager", "support", "compliance"),
            "contacts:sensitive",
        ),
        Permission(
            "activity.write",
            "Log and delete activities",
            ("manager", "sales", "marketing", "support", "integration"),
            "activities:write",
        ),
        Permission("task.write", "Create and update tasks", ("manager", "sales", "marketing", "support"), "tasks:write"),
        Permission("purchase.read", "See purchases and purchase summaries", NON_ADMIN_ROLES, "purchases:read"),
        Permission(
            "purchase.write",
            "Record purchases and refunds",
            ("manager", "sales", "support", "integration"),
            "purchases:write",
        ),
        Permission("user.read", "See users", NON_ADMIN_ROLES, "users:read"),
        Permission("user.manage", "Create users and tokens", (), "users:write"),
        Permission(PUBLIC, "Anyone, even without a token: a person's own data-subject request", NON_ADMIN_ROLES),
        Permission("personal_data.read", "See everything held about a data subject", ("compliance",), "personal_data:read"),
        Permission(
            "crm.import", "Import contacts from CSV files", ("manager", "sales", "marketing", "integration"), "contacts:write"
        ),
        # Its own scope: a bulk copy of everyone leaves the system, which reading page by page does
        # not make as easy. Integrations and support read through the API; only those who work
        # the customer list take it to Excel. Exporting also needs `crm.read` (`contacts:read`).
        Permission(
            "crm.export",
            "Export contacts, accounts and activities to CSV or .xlsx files",
            ("manager", "sales", "marketing"),
            "contacts:export",
        ),
        Permission(
            "testclock.manage", "Create, advance and delete the test clock (refused in production mode)", (), "testclock:write"
        ),
    ]


@hookimpl
def enishi_scheduled_jobs():
    return [
        ScheduledJob(
            "core.imports",
            dt.timedelta(seconds=10),
            imports.run_pending_imports,
            "run queued CSV imports and finish those a crash left midway",
        ),
        ScheduledJob(
            "core.outbox",
            dt.timedelta(seconds=5),
            outbox.deliver_pending,
            "deliver committed events (mail, webhooks) through the plugins' enishi_deliver_event",
        ),
        ScheduledJob(
            "core.purge_expired",
            dt.timedelta(hours=24),
            _purge_expired,
            "delete throttle counts whose window ended, and expired console sessions and sign-in links",
        ),
    ]


async def _purge_expired(runtime) -> None:
    async with runtime.unit_of_work() as uow:
        await throttle.purge_expired(uow)
        await web_sessions.purge_expired(uow)
        await sign_in_links.purge_expired(uow)


@hookimpl
def enishi_http_routes():
    from .downloads import ROUTES  # starlette and the export writers: only when an app is built

    return ROUTES


@hookimpl
def enishi_graphql_types():
    from .schema import imports as import_schema  # the schema loads strawberry: only when a schema is built

    return [import_schema.ContactImport]


@hookimpl
def enishi_event_types():
    return CORE_EVENT_TYPES


@hookimpl
def enishi_activity_types():
    return [
        ActivityType("call", "Call", "電話"),
        ActivityType("email", "Email", "メール"),
        ActivityType("meeting", "Meeting", "打ち合わせ"),
        ActivityType("note", "Note", "メモ"),
        ActivityType("task", "Task", "タスク"),
        ActivityType("event", "Event attended", "イベント参加"),
        ActivityType("system", "System", "システム"),
    ]


@hookimpl
def enishi_personal_data():
    contact = [
        ("sealed_family_name", "user.name"),
        ("sealed_given_name", "user.name"),
        ("sealed_family_name_kana", "user.name"),
        ("sealed_given_name_kana", "user.name"),
        ("sealed_job_title", "user.job_title"),
        ("sealed_department", "user.workplace"),
        ("sealed_postal_code", "user.contact.address.postal_code"),
        ("sealed_address", "user.contact.address"),
        ("sealed_custom_fields", "user"),
    ]
    derived = [
        ("kana_sort", "user.name"),
        ("name_sort", "user.name"),
        ("name_index", "user.name"),
        ("job_title_index", "user.job_title"),
        ("department_index", "user.workplace"),
    ]
    return [
        *(PersonalDataField("core_contact", name, category, erasure="anonymise") for name, category in contact),
        *(PersonalDataField("core_contact", name, category, erasure="anonymise", portable=False) for name, category in derived),
        PersonalDataField("core_contact_email", "sealed_address", "user.contact.email"),
        PersonalDataField("core_contact_email", "address_index", "user.contact.email", portable=False),
        PersonalDataField("core_contact_phone", "sealed_e164", "user.contact.phone_number"),
        PersonalDataField("core_contact_phone", "e164_index", "user.contact.phone_number", portable=False),
        PersonalDataField("core_contact_search_token", "token", "user.name", portable=False),
        # A date custom field's month-day (a birthday's), blind-indexed for yearly date triggers.
        PersonalDataField("core_contact_custom_date_index", "md_index", "user", portable=False),
        PersonalDataField(
            "core_subject_key",
            "wrapped_key",
            "system.authentication",
            purposes=("security",),
            provenance="observed",
            portable=False,
        ),
        PersonalDataField("core_activity", "sealed_summary", "user.content", provenance="observed", erasure="shred"),
        PersonalDataField("core_activity", "sealed_body", "user.content", provenance="observed", erasure="shred"),
        PersonalDataField("core_task", "sealed_title", "user.content", provenance="observed"),
        # A rejected import row's cells, for the error report (sealed under the import's key; the
        # row names no contact, so they go with the import, not with a person).
        PersonalDataField("core_import_row", "sealed_cells", "user", portable=False, erasure="retain"),
        # The uploaded file, sealed in pieces until its import ends.
        PersonalDataField("core_import_chunk", "sealed_data", "user", portable=False, erasure="retain"),
        PersonalDataField("core_import_row", "contact_id", "user.unique_id", portable=False),
        PersonalDataField("core_import_row", "note_key", "user.content", portable=False),
        # A purchase is kept for the books when its buyer is erased, no longer naming them.
        PersonalDataField("core_purchase", "contact_id", "user.unique_id", erasure="anonymise"),
        PersonalDataField("core_purchase", "amount", "user.financial", provenance="observed", erasure="retain"),
        PersonalDataField("core_purchase", "items", "user.financial", provenance="observed", erasure="retain"),
    ]


@hookimpl
def enishi_sensitive_capable_fields():
    """A contact's custom fields are where the business records what it chose to know about a
    person (a medical history, a disability, a religion), so compliance may mark any of them. The
    core's other fields may not be: names, kana, addresses, emails and phones identify a person
    and job titles and departments describe their work, none of them 要配慮 by nature (法第2条第3項,
    施行令第2条); an activity's summary and body are free text that may concern several people and
    is written by staff, and marking it would put every note behind every such person's consent
    (record 要配慮 information in a marked custom field instead); an account is a company, not a
    person, so there is no one whose consent or legal ground a write could rest on."""
    return [
        SensitiveCapableField(
            "contact",
            "custom_fields.*",
            "core_contact",
            "sealed_custom_fields",
            custom_field_holders,
            description="A contact's custom field: kept out of filter terms, segments, exports and webhooks.",
        )
    ]


def _iso(value):
    return value.isoformat() if value is not None else None


async def _sole_activity_ids(session, contact_id):
    """Activities that concern no other person (accounts are not people); shared ones also hold
    other people's data."""
    mine = select(ActivityTarget.activity_id).where(ActivityTarget.contact_id == contact_id)
    sole = (
        select(ActivityTarget.activity_id)
        .where(ActivityTarget.activity_id.in_(mine), ActivityTarget.contact_id.is_not(None))
        .group_by(ActivityTarget.activity_id)
        .having(func.count() == 1)
    )
    return list((await session.execute(sole)).scalars())


@hookimpl
async def enishi_subject_collect(uow, subject: DataSubject):
    session = uow.session
    contact = await session.get(Contact, subject.contact_id)
    if contact is None:
        return None
    emails = (
        await session.execute(select(ContactEmail).where(ContactEmail.contact_id == contact.id).order_by(ContactEmail.position))
    ).scalars()
    phones = (
        await session.execute(select(ContactPhone).where(ContactPhone.contact_id == contact.id).order_by(ContactPhone.position))
    ).scalars()
    accounts = await session.execute(
        select(Account.name, ContactAccount.is_primary)
        .join(ContactAccount, ContactAccount.account_id == Account.id)
        .where(ContactAccount.contact_id == contact.id)
    )
    activities = (
        await session.execute(
            select(Activity)
            .join(ActivityTarget, ActivityTarget.activity_id == Activity.id)
            .where(ActivityTarget.contact_id == contact.id)
            .order_by(Activity.occurred_at)
        )
    ).scalars()
    tasks = (await session.execute(select(Task).where(Task.contact_id == contact.id))).scalars()
    purchases = (
        await session.execute(select(Purchase).where(Purchase.contact_id == contact.id).order_by(Purchase.purchased_at))
    ).scalars()
    return {
        "contact": {
            "id": str(contact.id),
            "family_name": contact.family_name,
            "given_name": contact.given_name,
            "family_name_kana": contact.family_name_kana,
            "given_name_kana": contact.given_name_kana,
            "job_title": contact.job_title,
            "department": contact.department,
            "postal_code": contact.postal_code,
            "address": contact.address,
            "custom_fields": contact.custom_fields,
            "created_at": _iso(contact.created_at),
            "updated_at": _iso(contact.updated_at),
        },
        "emails": [{"address": e.address, "label": e.label, "primary": e.is_primary} for e in emails],
        "phones": [{"number": p.e164, "label": p.label, "primary": p.is_primary} for p in phones],
        "accounts": [{"name": name, "primary": primary} for name, primary in accounts],
        # Only the activity itself: who else took part is other people's data.
        "activities": [
            {
                "type": a.type,
                "channel": a.channel,
                "direction": a.direction,
                "occurred_at": _iso(a.occurred_at),
                "summary": a.summary,
                "body": a.body,
            }
            for a in activities
        ],
        "tasks": [{"title": t.title, "status": t.status, "due_at": _iso(t.due_at)} for t in tasks],
        "purchases": [
            {
                "channel": p.channel,
                "order_id": p.order_ref,
                "amount": p.amount,
                "currency": p.currency,
                "items": p.items,
                "purchased_at": _iso(p.purchased_at),
                "refunded_at": _iso(p.refunded_at),
            }
            for p in purchases
        ],
    }


@hookimpl
async def enishi_request_finished(runtime, actor_id, personal_reads):
    """The people a request read, to the plugins keeping an access log, in a transaction of their
    own by the reader; nothing at all when nothing sealed was read or no plugin keeps a log."""
    if not personal_reads or not runtime.plugins.implementations("enishi_personal_data_read"):
        return
    # Resolved on a reader: on SQLite the unit of work holds the one writer slot.
    async with runtime.read_session() as session:
        people = await people_read(session, personal_reads)
    if people:
        async with runtime.unit_of_work(actor_id) as uow:
            await runtime.plugins.call("enishi_personal_data_read", uow=uow, contact_ids=people)


@hookimpl
def enishi_holdable_types():
    return ["core_activity"]


async def _contacts_past_retention(session, cutoff: dt.datetime, action: str, record_ids=None) -> list[tuple]:
    """Live contacts untouched since `cutoff`: not changed, and no activity concerning them after it
    (a back-dated call counts from when it happened). Anonymising them is their erasure."""
    later_activity = exists().where(
        ActivityTarget.contact_id == Contact.id,
        ActivityTarget.activity_id == Activity.id,
        Activity.occurred_at > cutoff,
    )
    statement = (
        select(Contact.id, Contact.id)
        .where(Contact.deleted_at.is_(None), Contact.updated_at <= cutoff, ~later_activity)
        .order_by(Contact.updated_at, Contact.id)
    )
    if record_ids is not None:
        statement = statement.where(Contact.id.in_(list(record_ids))).with_for_update(of=Contact)
    return [tuple(row) for row in (await session.execute(statement)).all()]


@hookimpl
def enishi_retainable_entities():
    return [
        RetainableEntity(
            "contact",
            "core_contact",
            "last activity (last change, or the latest activity concerning them)",
            ("anonymise",),
            _contacts_past_retention,
            person=True,
            description="A person: anonymising them erases them in every plugin (their keys destroyed).",
        )
    ]


@hookimpl
async def enishi_subject_erase(uow, subject: DataSubject):
    session = uow.session
    report = ErasureReport("core")
    # Locked first, so a write naming this person waits for the erasure and then finds them gone.
    contact = await session.get(Contact, subject.contact_id, with_for_update=True)
    if contact is None:
        return report
    sole = await _sole_activity_ids(session, contact.id)
    held = report.hold_back(subject, "core_activity", sole)
    if erasable := [a for a in sole if a not in held]:
        # The timeline is a log: the entries stay (what happened, when, through which channel),
        # their text unreadable for good. Shared ones stay readable for the others they concern.
        report.add("core_activity", "shred", await shred_records(uow, ActivityKey.activity_id, erasable))
    # A held activity keeps its link to the person too: the hold is about proving who was involved.
    report.add(
        "core_activity_target",
        "delete",
        (
            await session.execute(
                delete(ActivityTarget).where(ActivityTarget.contact_id == contact.id, ActivityTarget.activity_id.not_in(held))
            )
        ).rowcount,
    )
    # Purchases stay for the books (like loyalty's ledger), no longer naming the person.
    report.add(
        "core_purchase",
        "anonymise",
        (await session.execute(update(Purchase).where(Purchase.contact_id == contact.id).values(contact_id=None))).rowcount,
    )
    for model in (ContactEmail, ContactPhone, ContactSearchToken, ContactCustomDateIndex, ContactAccount, Task, ImportRow):
        report.add(
            model.__tablename__, "delete", (await session.execute(delete(model).where(model.contact_id == contact.id))).rowcount
        )
    if any(
        getattr(contact, f"sealed_{name}") is not None
        for name in (*NAME_FIELDS, *PROFILE_FIELDS, *ADDRESS_FIELDS, "custom_fields")
    ):
        seal_names(contact, dict.fromkeys(NAME_FIELDS))
        contact.job_title = contact.department = contact.postal_code = contact.address = contact.custom_fields = None
        contact.deleted_at = contact.deleted_at or uow.clock.now()
        report.add("core_contact", "anonymise", 1)
    # The file transport's copies of the mail sent to them (core/mail.py files them by contact id).
    # Off the event loop: it waits while a delivery to them is being written.
    report.add("mail", "delete", await asyncio.to_thread(mail.forget, uow.settings, contact.id))
    await session.flush()
    return report


@hookimpl
async def enishi_metrics(runtime, session, now):
    intervals = {job.name: job.interval for _, job in runtime.plugins.contributions("enishi_scheduled_jobs")}
    return [*await gauges.outbox_readings(session, now), *await gauges.job_readings(session, now, intervals)]
