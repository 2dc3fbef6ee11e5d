"""Bundled plugin `privacy`, part one: subject keys (crypto-shredding) and the consent ledger.

It answers the core's `enishi_consent_check` for every other plugin (ABM's audience export asks
it) and serves one-click withdrawal links at `POST /privacy/withdraw/{token}`. Data-subject
requests, blind indexes, the audit log and records of processing are not built yet."""
from __future__ import annotations

from pathlib import Path

import strawberry
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from enishi.auth import NON_ADMIN_ROLES
from enishi import ErasureReport, Permission, PersonalDataField, hookimpl
from enishi.errors import InputError

from . import models, schema, service


@hookimpl
def enishi_migrations():
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def enishi_graphql_query():
    return [schema.PrivacyQuery]


@hookimpl
def enishi_graphql_mutation():
    return [schema.PrivacyMutation]


@hookimpl
def enishi_graphql_type_fields():
    return [("Contact", strawberry.field(resolver=schema.contact_consents, name="consents",
                                         description="Current consent per purpose (privacy plugin)."))]


@hookimpl
def enishi_permissions():
    return [Permission("privacy.consent.read", "See consent states and history", NON_ADMIN_ROLES),
            Permission("privacy.consent.write", "Record and withdraw consent", ("manager", "sales", "marketing", "support", "compliance",
                                                                                "integration"))]


@hookimpl
async def enishi_consent_check(uow, contact_ids, purpose):
    return await service.check(uow.session, contact_ids, purpose)


async def _withdraw_link(request: Request):
    runtime = request.app.state.runtime
    try:
        contact_id, purpose = service.read_withdrawal_token(runtime.settings, request.path_params["token"])
        async with runtime.unit_of_work() as uow:
            await service.record_consent(uow, contact_id, {"purpose": purpose, "state": "withdrawn", "source": "link",
                                                           "method": "one_click"})
    except InputError as error:
        return JSONResponse({"error": error.errors[0].message, "code": error.errors[0].code}, status_code=404)
    return JSONResponse({"withdrawn": True, "purpose": purpose})


@hookimpl
def enishi_http_routes():
    return [Route("/privacy/withdraw/{token}", _withdraw_link, methods=["POST"])]


@hookimpl
def enishi_personal_data():
    return [
        PersonalDataField("privacy_consent", "state", "user.consent", purposes=("legal_obligation",), provenance="provided",
                          erasure="retain"),
        PersonalDataField("privacy_consent", "evidence", "user.consent", purposes=("legal_obligation",), provenance="provided",
                          erasure="anonymise"),
        PersonalDataField("privacy_subject_key", "wrapped_key", "system.authentication", purposes=("security",),
                          provenance="observed", erasure="delete", portable=False),
    ]


@hookimpl
async def enishi_subject_collect(uow, subject):
    records = (await uow.session.execute(select(models.PrivacyConsent).where(models.PrivacyConsent.contact_id == subject.contact_id)
                                         .order_by(models.PrivacyConsent.seq))).scalars().all()
    if not records:
        return None
    return {"consents": [{"purpose": r.purpose, "state": r.state, "notice": r.notice_id, "notice_version": r.notice_version,
                          "source": r.source, "captured_at": r.captured_at.isoformat(), "evidence": await service.evidence_of(uow, r)}
                         for r in records]}


@hookimpl
async def enishi_subject_erase(uow, subject):
    """Consent records stay as proof of lawful processing (their states hold no content); their
    evidence becomes unreadable as the subject's key is destroyed."""
    report = ErasureReport("privacy")
    report.add("privacy_subject_key", "delete", await service.shred(uow, subject.contact_id))
    kept = (await uow.session.execute(select(models.PrivacyConsent.seq).where(models.PrivacyConsent.contact_id == subject.contact_id))).all()
    if kept:
        report.retained.append({"entity": "privacy_consent", "rows": len(kept), "basis": "GDPR Art. 7(1) / APPI: proof of consent"})
    return report


@hookimpl
async def enishi_demo_data(uow, rng, account_ids, contact_ids):
    for contact_id in rng.sample(contact_ids, k=len(contact_ids) * 7 // 10):
        await service.record_consent(uow, contact_id, {"purpose": "marketing", "state": "granted", "notice_id": "privacy-notice",
                                                       "notice_version": "2024-04", "source": rng.choice(["web_form", "import", "agent"])})
