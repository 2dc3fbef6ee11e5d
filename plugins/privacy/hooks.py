"""Bundled plugin `privacy`: the consent ledger, data-subject requests across every plugin (their
erasure ends by destroying the subject's key: crypto-shredding), legal holds, restriction,
third-party provision records and the access log.

It answers the core's `enishi_consent_check` and `enishi_record_provision` for every other plugin,
vetoes changes to a restricted person, logs reads of personal data, and serves one-click
withdrawal links (`POST /privacy/withdraw/{token}`), single-use export downloads
(`GET /privacy/exports/{token}`) and the data subject's own pages around them (pages.py)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import strawberry
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from enishi.plugin import (
    ACTIVITY_LOGGED,
    ACTIVITY_UPDATED,
    CONTACT_MERGED,
    CONTACT_PERSONAL_DATA_READ,
    CONTACT_UPDATED,
    NON_ADMIN_ROLES,
    ErasureReport,
    InputError,
    Permission,
    PersonalDataField,
    ScheduledJob,
    SubjectKey,
    UserError,
    hookimpl,
    parse_global_id,
    shred_records,
    to_global_id,
)

from . import (
    access_log,
    documents_schema,
    downloads,
    events,
    execution,
    export_delivery,
    incident_reminders,
    incidents,
    intake,
    models,
    pages,
    provision_models,
    provision_schema,
    provision_types,
    provisions,
    receipt_schema,
    receipts,
    recipients,
    retention,
    retention_schema,
    schema,
    sensitive,
    sensitive_schema,
    service,
    types,
)


@hookimpl
def enishi_migrations():
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def enishi_graphql_types():
    return [
        types.DataSubjectRequest,
        types.LegalHold,
        types.Incident,
        retention_schema.RetentionRule,
        retention_schema.RetentionRun,
        documents_schema.PrivacyExtractNode,
        provision_types.ProvisionRecipient,
    ]


@hookimpl
def enishi_graphql_query():
    return [
        schema.PrivacyQuery,
        schema.DataSubjectRequestQuery,
        schema.IncidentQuery,
        retention_schema.RetentionQuery,
        documents_schema.DocumentsQuery,
        provision_schema.ProvisionQuery,
        receipt_schema.ReceiptQuery,
        sensitive_schema.SensitiveQuery,
    ]


@hookimpl
def enishi_graphql_mutation():
    return [
        schema.PrivacyMutation,
        schema.DataSubjectRequestMutation,
        schema.IncidentMutation,
        retention_schema.RetentionMutation,
        documents_schema.DocumentsMutation,
        provision_schema.ProvisionMutation,
        receipt_schema.ReceiptMutation,
        sensitive_schema.SensitiveMutation,
    ]


@hookimpl
def enishi_graphql_type_fields():
    return [
        (
            "Contact",
            strawberry.field(
                resolver=schema.contact_consents, name="consents", description="Current consent per purpose (privacy plugin)."
            ),
        )
    ]


@hookimpl
def enishi_event_types():
    return events.EVENT_TYPES


@hookimpl
def enishi_permissions():
    return [
        Permission("privacy.consent.read", "See consent states and history", NON_ADMIN_ROLES, "consent:read"),
        Permission(
            "privacy.consent.write",
            "Record and withdraw consent",
            ("manager", "sales", "marketing", "support", "compliance", "integration"),
            "consent:write",
        ),
        Permission(
            "privacy.request.intake",
            "Take a data-subject request from a person (phone, letter)",
            ("support", "compliance"),
            "privacy:requests",
        ),
        Permission(
            "privacy.request.manage",
            "Review, run, extend and close data-subject requests; legal holds; restriction",
            ("compliance",),
            "privacy:requests",
        ),
        Permission("privacy.audit", "Read and verify the access log", ("compliance",), "privacy:audit"),
        Permission(
            "privacy.incident.manage",
            "Register breach incidents, record their reports, notify the people affected; compliance deadlines",
            ("compliance",),
            "privacy:incidents",
        ),
        Permission(
            retention_schema.PERMISSION,
            "Set retention rules, preview and run the retention sweep, read its runs",
            ("compliance",),
            "privacy:retention",
        ),
        Permission(
            documents_schema.REPORT_PERMISSION,
            "Records of processing, the APPI public statement and consent records for regulators",
            ("compliance",),
            "privacy:reports",
        ),
        Permission(
            documents_schema.EXTRACT_PERMISSION,
            "Make pseudonymised and anonymised extracts of the contacts; record provisions of anonymised ones",
            ("manager", "marketing", "compliance"),
            "privacy:extracts",
        ),
        Permission(
            documents_schema.KEY_PERMISSION,
            "Read a pseudonymised extract's mapping key (削除情報等)",
            ("compliance",),
            "privacy:extracts",
        ),
        Permission(
            "privacy.provision.manage",
            "Keep the register of processors and recipients, provision records and cross-border consents",
            ("compliance",),
            "privacy:provisions",
        ),
        Permission(
            "privacy.sensitive.manage",
            "Mark fields as sensitive (要配慮個人情報) and record legal grounds",
            ("compliance",),
            "privacy:sensitive",
        ),
    ]


@hookimpl
async def enishi_consent_check(uow, contact_ids, purpose):
    return await service.check(uow.session, contact_ids, purpose)


@hookimpl
def enishi_consent_withdrawal_link(settings, contact_id, purpose):
    return settings.public_link(service.withdrawal_path(settings, contact_id, purpose))


@hookimpl
async def enishi_sensitive_fields(session, entity):
    return await sensitive.fields_of(session, entity)


@hookimpl
async def enishi_field_write_guard(uow, entity, record_id, subject_ids, fields):
    await sensitive.guard(uow, subject_ids, fields)


@hookimpl
async def enishi_record_provision(uow, contact_ids, recipient, purpose, data_items):
    await provisions.record_for_plugin(uow, contact_ids, recipient, purpose, data_items)


# Changes that process a person; while restricted only storage, legal claims and data-subject work may.
_PROCESSING_EVENTS = {t.name for t in (CONTACT_UPDATED, CONTACT_MERGED, ACTIVITY_LOGGED, ACTIVITY_UPDATED)}


@hookimpl
async def enishi_on_event(event, uow):
    if event.is_(CONTACT_PERSONAL_DATA_READ):
        await access_log.append(uow, event.entity_id, "personal_data_read", event.payload.get("purpose", ""))
    elif event.type in _PROCESSING_EVENTS:
        contact_ids = _concerned(event)
        if contact_ids and (held := await service.restricted(uow.session, contact_ids)):
            if event.is_(CONTACT_UPDATED) and await _rectifying(uow, held):
                return  # the rectification a data-subject request asked for
            raise _restricted()


@hookimpl
async def enishi_on_events(events, uow):
    """Events raised together (an import's notes): one restriction check for all their people."""
    if events[0].type in _PROCESSING_EVENTS and not events[0].is_(CONTACT_UPDATED):
        contact_ids = set().union(*map(_concerned, events))
        if contact_ids and await service.restricted(uow.session, contact_ids):
            raise _restricted()
    else:
        for event in events:
            await enishi_on_event(event, uow)


def _restricted() -> InputError:
    return InputError(UserError(None, "processing of this person is restricted (data-subject request)", "RESTRICTED"))


@hookimpl
async def enishi_deliver_event(event, runtime):
    if event.is_(events.VERIFICATION_CODE_ISSUED):
        await intake.send_verification_code(runtime, event)
    elif event.is_(events.INCIDENT_SUBJECT_NOTICE):
        await incidents.send_notice(runtime, event)


def _concerned(event) -> set[uuid.UUID]:
    if event.entity == "contact":
        return {event.entity_id, *(uuid.UUID(m) for m in event.payload.get("merged_ids", ()))}
    return {uuid.UUID(c) for c in event.payload.get("contact_ids", ())}


async def _rectifying(uow, contact_ids) -> bool:
    return (
        await uow.session.execute(
            select(models.PrivacyRequest.id)
            .where(
                models.PrivacyRequest.contact_id.in_(list(contact_ids)),
                models.PrivacyRequest.type == "rectification",
                models.PrivacyRequest.status == "awaiting_manual",
            )
            .limit(1)
        )
    ).first() is not None


async def _withdraw_link(request: Request):
    """GET, or POST from its page: the subject's page (pages.py). Any other POST — an API client,
    a mail client's one-click (RFC 8058) — withdraws and answers JSON."""
    if request.method == "GET" or await pages.PAGES.from_page(request):
        return await pages.withdrawal(request)
    runtime = request.app.state.runtime
    try:
        contact_id, purpose = service.read_withdrawal_token(runtime.settings, request.path_params["token"])
        async with runtime.unit_of_work() as uow:
            await service.record_consent(
                uow, contact_id, {"purpose": purpose, "state": "withdrawn", "source": "link", "method": "one_click"}
            )
    except InputError as error:
        return JSONResponse({"error": error.errors[0].message, "code": error.errors[0].code}, status_code=404)
    return JSONResponse({"withdrawn": True, "purpose": purpose})


async def _download(request: Request):
    """GET /privacy/exports/{token}: an export, once; the link then stops working. A browser (one
    that asks for HTML) gets the subject's page instead, whose button downloads it (pages.py): a
    mail scanner opening the link does not use it up."""
    if request.method == "POST" or "text/html" in request.headers.get("accept", ""):
        return await pages.export(request)
    runtime = request.app.state.runtime
    async with runtime.unit_of_work() as uow:
        found = await export_delivery.download(uow, request.path_params["token"])
    if found is None:
        return JSONResponse({"error": "this link is not valid, has expired or was already used", "code": "GONE"}, status_code=410)
    return pages.export_file(*found)


async def _json_object(request: Request) -> dict | None:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) and all(isinstance(v, str) or v is None for v in body.values()) else None


def _errors(error: InputError, status: int = 422) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"field": e.field, "message": e.message, "code": e.code} for e in error.errors]}, status_code=status
    )


async def _submit(request: Request):
    """POST /privacy/requests {"type", "email", "details"?, "regime"?}: a person's own request, no
    login. The answer is the same whether or not we know the address."""
    runtime = request.app.state.runtime
    body = await _json_object(request)
    if body is None:
        return JSONResponse(
            {"errors": [{"field": None, "message": "send a JSON object of strings", "code": "BAD_REQUEST"}]}, status_code=400
        )
    if until := await intake.REQUESTS_PER_CLIENT.take(runtime, pages.PAGES.client(request)):
        too_many = UserError(None, "too many requests from this client; try again later", "RATE_LIMITED")
        response = _errors(InputError(too_many), 429)
        response.headers["Retry-After"] = intake.REQUESTS_PER_CLIENT.retry_after(runtime, until)
        return response
    try:
        async with runtime.unit_of_work() as uow:
            submitted = await intake.submit(uow, body)
    except InputError as error:
        return _errors(error, 429 if error.errors[0].code == "RATE_LIMITED" else 422)
    return JSONResponse(
        {"requestId": to_global_id("DataSubjectRequest", submitted.id), "message": intake.SUBMITTED_MESSAGE}, status_code=202
    )


async def _verify(request: Request):
    """POST /privacy/requests/{id}/verify {"code"}: confirm with the emailed code (five attempts)."""
    body = await _json_object(request)
    try:
        request_id = parse_global_id(request.path_params["id"], "DataSubjectRequest", "id")
        await intake.confirm(request.app.state.runtime, request_id, (body or {}).get("code") or "")
    except InputError as error:
        return _errors(error)
    return JSONResponse({"verified": True, "message": "Thank you: your request is confirmed."})


@hookimpl
def enishi_http_routes():
    return [
        Route("/privacy/withdraw/{token}", _withdraw_link, methods=["GET", "POST"]),
        Route("/privacy/exports/{token}", _download, methods=["GET", "POST"]),
        Route("/privacy/requests", _submit, methods=["POST"]),
        Route("/privacy/requests/new", pages.new_request, methods=["GET", "POST"]),
        Route("/privacy/requests/confirm", pages.confirm_request, methods=["GET", "POST"]),
        Route("/privacy/requests/{id}/verify", _verify, methods=["POST"]),
        Route("/privacy/downloads/{token}", downloads.route, methods=["GET"]),
        Route("/privacy/statement", documents_schema.public_statement, methods=["GET"]),
    ]


@hookimpl
def enishi_scheduled_jobs():
    return [
        ScheduledJob(
            "privacy.finish_held_erasures",
            dt.timedelta(hours=24),
            execution.finish_held_erasures,
            "finish erasures once their legal holds ended; resume requests a crash left in progress",
        ),
        ScheduledJob(
            "privacy.retention_sweep",
            dt.timedelta(hours=24),
            retention.scheduled_sweep,
            "anonymise or delete the records whose retention period ran (skipping legal holds and open requests)",
        ),
        ScheduledJob(
            "privacy.recipient_reviews",
            dt.timedelta(hours=24),
            recipients.remind_reviews,
            "a task for each processor or recipient whose review date is near, once per review date",
        ),
        ScheduledJob(
            "privacy.incident_reminders",
            dt.timedelta(hours=1),
            incident_reminders.remind_incidents,
            "a task (and `incident.report_due`) for each incident report due soon and not filed, once per report",
        ),
    ]


@hookimpl
async def enishi_personal_data_read(uow, contact_ids):
    await access_log.record_reads(uow, contact_ids)


@hookimpl
def enishi_personal_data():
    return [
        PersonalDataField(
            "privacy_consent", "state", "user.consent", purposes=("legal_obligation",), provenance="provided", erasure="retain"
        ),
        PersonalDataField(
            "privacy_consent",
            "evidence",
            "user.consent",
            purposes=("legal_obligation",),
            provenance="provided",
            erasure="anonymise",
        ),
        PersonalDataField("privacy_request", "details", "user.content", purposes=("legal_obligation",), erasure="anonymise"),
        PersonalDataField(
            "privacy_request_run", "section", "user", purposes=("legal_obligation",), erasure="anonymise", portable=False
        ),
        PersonalDataField("privacy_export", "content", "user", purposes=("legal_obligation",), erasure="delete", portable=False),
        PersonalDataField(
            "privacy_provision",
            "recipient",
            "user.provision",
            purposes=("legal_obligation",),
            provenance="observed",
            erasure="retain",
        ),
        PersonalDataField(
            "privacy_cross_border_consent",
            "state",
            "user.consent",
            purposes=("legal_obligation",),
            provenance="provided",
            erasure="retain",
        ),
        PersonalDataField(
            "privacy_legal_ground",
            "ground",
            "user.consent",
            purposes=("legal_obligation",),
            provenance="observed",
            erasure="retain",
        ),
    ]


@hookimpl
async def enishi_subject_collect(uow, subject):
    records = await _of_subject(uow, models.PrivacyConsent, subject)
    disclosed = await receipts.disclosures(uow.session, subject.contact_id)
    if not records and not any(disclosed.values()):
        return None
    return {
        "consents": [
            {
                "purpose": r.purpose,
                "state": r.state,
                "notice": r.notice_id,
                "notice_version": r.notice_version,
                "source": r.source,
                "captured_at": r.captured_at.isoformat(),
                "evidence": await service.evidence_of(uow, r),
            }
            for r in records
        ],
        **disclosed,
    }


async def _of_subject(uow, model, subject) -> list:
    statement = select(model).where(model.contact_id == subject.contact_id).order_by(model.seq)
    return list((await uow.session.execute(statement)).scalars())


@hookimpl
async def enishi_subject_erase(uow, subject):
    """Consent and provision records stay as proof of lawful processing (they hold no content); the
    consent evidence, request details and exports become unreadable as the subject's key is
    destroyed, and stored exports are wiped."""
    report = ErasureReport("privacy")
    report.add("privacy_export", "delete", await export_delivery.erase_exports(uow, subject.contact_id))
    report.add("core_subject_key", "delete", await shred_records(uow, SubjectKey.contact_id, [subject.contact_id]))
    for model, basis in (
        (models.PrivacyConsent, "GDPR Art. 7(1) / APPI: proof of consent"),
        (models.PrivacyProvision, "APPI Art. 29: third-party provision records are kept"),
        (provision_models.PrivacyCrossBorderConsent, "APPI Art. 28: proof of consent to a transfer abroad"),
        (provision_models.PrivacyReceipt, "APPI Art. 30: records of data received from third parties are kept"),
        (provision_models.PrivacyLegalGround, "proof of the legal ground processing relied on"),
        (models.PrivacyIncidentSubject, "GDPR Art. 33(5) / APPI Art. 26: breach records are kept"),
    ):
        kept = (
            await uow.session.execute(select(func.count()).select_from(model).where(model.contact_id == subject.contact_id))
        ).scalar_one()
        report.retain(model.__tablename__, kept, basis)
    return report


@hookimpl
async def enishi_demo_data(uow, rng, account_ids, contact_ids):
    for contact_id in rng.sample(contact_ids, k=len(contact_ids) * 7 // 10):
        await service.record_consent(
            uow,
            contact_id,
            {
                "purpose": "marketing",
                "state": "granted",
                "notice_id": "privacy-notice",
                "notice_version": "2024-04",
                "source": rng.choice(["web_form", "import", "agent"]),
            },
        )
