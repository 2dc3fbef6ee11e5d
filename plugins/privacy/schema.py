"""Privacy's GraphQL: consent on contacts and its history; data-subject requests from intake to
export or erasure; legal holds; restriction; the access log."""

from __future__ import annotations

import uuid

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from enishi.plugin import (
    PUBLIC_FIELD,
    PUBLIC_PERMISSION,
    Connection,
    InputError,
    InvalidArgument,
    PageRequest,
    SortKey,
    User,
    UserError,
    UserErrorType,
    UserNode,
    input_values,
    load_rows,
    node_types_by_table,
    paginate,
    parse_global_id,
    run_mutation,
    split_global_id,
    to_global_id,
    utc_instant,
)

from . import access_log, execution, export_delivery, incidents, intake, legal_holds, requests, service
from . import models as orm
from .compliance import ComplianceStep
from .models import OPEN_STATUSES, PrivacyConsent
from .types import (
    AccessLogEntry,
    AccessLogVerification,
    AddIncidentSubjectsFromAccessLogInput,
    ComplianceDeadline,
    ComplianceDeadlineKind,
    CreateDataSubjectRequestInput,
    CreateIncidentInput,
    DataSubjectRequest,
    DataSubjectRequestFilter,
    DataSubjectRequestPayload,
    ExportLinkPayload,
    Incident,
    IncidentPayload,
    LegalHold,
    LegalHoldPayload,
    NotifyIncidentSubjectsInput,
    PlaceLegalHoldInput,
    PrivacyConsentPayload,
    PrivacyConsentRecord,
    RecordConsentInput,
    RecordIncidentReportInput,
    RestrictionPayload,
    SubmitDataSubjectRequestInput,
    SubmitDataSubjectRequestPayload,
    VerifyDataSubjectRequestInput,
    VerifyDataSubjectRequestPayload,
    WithdrawConsentInput,
)


def _consents_factory(ctx):
    async def load(contact_ids):
        async with ctx.runtime.read_session() as session:
            states = await service.current(session, contact_ids)
        grouped = {c: [] for c in contact_ids}
        for (contact_id, _), record in sorted(states.items(), key=lambda item: item[0][1]):
            grouped[contact_id].append(record)
        return [grouped[c] for c in contact_ids]

    return load


async def contact_consents(root, info: Info) -> list[PrivacyConsentRecord]:
    """`Contact.consents`: the current state of each purpose (privacy plugin)."""
    info.context.require("privacy.consent.read")
    return [
        PrivacyConsentRecord.from_row(r)
        for r in await info.context.loader("privacy.consents", _consents_factory).load(root._row.id)
    ]


@strawberry.type
class PrivacyQuery:
    @strawberry.field(description="Every consent record of a contact, oldest first: history is never rewritten.")
    async def consent_history(
        self, info: Info, contact_id: strawberry.ID, purpose: str | None = None
    ) -> list[PrivacyConsentRecord]:
        info.context.require("privacy.consent.read")
        statement = select(PrivacyConsent).where(PrivacyConsent.contact_id == parse_global_id(contact_id, "Contact", "contactId"))
        if purpose is not None:
            statement = statement.where(PrivacyConsent.purpose == purpose)
        return [PrivacyConsentRecord.from_row(r) for r in await info.context.scalars(statement.order_by(PrivacyConsent.seq))]

    @strawberry.field(description="A one-click withdrawal link path for emails: POST it to withdraw, no login needed.")
    def consent_withdrawal_link(self, info: Info, contact_id: strawberry.ID, purpose: str) -> str:
        info.context.require("privacy.consent.write")
        return service.withdrawal_path(info.context.settings, parse_global_id(contact_id, "Contact", "contactId"), purpose)


@strawberry.type
class PrivacyMutation:
    @strawberry.mutation
    async def record_consent(self, info: Info, input: RecordConsentInput) -> PrivacyConsentPayload:
        row, errors = await run_mutation(
            info,
            "privacy.consent.write",
            lambda uow: service.record_consent(
                uow, parse_global_id(input.contact_id, "Contact", "contactId"), input_values(input, skip=("contact_id",))
            ),
        )
        return PrivacyConsentPayload(consent=PrivacyConsentRecord.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="As easy as giving it: one call withdraws a consent.")
    async def withdraw_consent(self, info: Info, input: WithdrawConsentInput) -> PrivacyConsentPayload:
        row, errors = await run_mutation(
            info,
            "privacy.consent.write",
            lambda uow: service.record_consent(
                uow,
                parse_global_id(input.contact_id, "Contact", "contactId"),
                {"purpose": input.purpose, "state": "withdrawn", "source": input.source},
            ),
        )
        return PrivacyConsentPayload(consent=PrivacyConsentRecord.from_row(row) if row else None, user_errors=errors)


@strawberry.type
class DataSubjectRequestQuery:
    @strawberry.field(description="Data-subject requests, soonest deadline first.")
    async def data_subject_requests(
        self, info: Info, filter: DataSubjectRequestFilter | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[DataSubjectRequest]:
        info.context.require("privacy.request.manage")
        statement = select(orm.PrivacyRequest)
        if filter is not None:
            if filter.status:
                statement = statement.where(orm.PrivacyRequest.status.in_(filter.status))
            if filter.type:
                statement = statement.where(orm.PrivacyRequest.type.in_(filter.type))
            if filter.contact_id is not None:
                statement = statement.where(
                    orm.PrivacyRequest.contact_id == parse_global_id(filter.contact_id, "Contact", "filter.contactId")
                )
            if filter.overdue is not None:
                late = orm.PrivacyRequest.status.in_(OPEN_STATUSES) & (
                    orm.PrivacyRequest.due_at <= info.context.runtime.clock.now()
                )
                statement = statement.where(late if filter.overdue else ~late)
        order = [(SortKey(orm.PrivacyRequest.due_at, "datetime"), False), (SortKey(orm.PrivacyRequest.id, "uuid"), False)]
        return await paginate(info.context, statement, order, PageRequest(first, after, None, None), DataSubjectRequest.from_row)

    @strawberry.field(description="The node types a legal hold can keep: those whose plugin's erasure honours holds.")
    def legal_hold_types(self, info: Info) -> list[str]:
        info.context.require("privacy.request.manage")
        return sorted(_holdable(info))

    @strawberry.field(description="Legal holds on a contact's records.")
    async def legal_holds(self, info: Info, contact_id: strawberry.ID, active: bool = True) -> list[LegalHold]:
        info.context.require("privacy.request.manage")
        statement = select(orm.PrivacyLegalHold).where(
            orm.PrivacyLegalHold.contact_id == parse_global_id(contact_id, "Contact", "contactId")
        )
        rows = await info.context.scalars(statement.order_by(orm.PrivacyLegalHold.created_at))
        today = info.context.runtime.clock.now().astimezone(info.context.settings.zone).date()
        return [
            LegalHold.from_row(r) for r in rows if not active or (r.released_at is None and (r.until is None or r.until >= today))
        ]

    @strawberry.field(
        description="Who read or exported personal data, oldest first: one person's entries (`contactId`), one "
        "staff member's across people (`userId`), or both. `last`: only the newest that many."
    )
    async def access_log(
        self,
        info: Info,
        contact_id: strawberry.ID | None = None,
        user_id: strawberry.ID | None = None,
        last: int | None = None,
    ) -> list[AccessLogEntry]:
        info.context.require("privacy.audit")
        if contact_id is None and user_id is None:
            raise InvalidArgument("give contactId, userId or both")
        if last is not None and not 0 < last <= info.context.settings.max_page_size:
            raise InvalidArgument(f"last must be between 1 and {info.context.settings.max_page_size}")
        statement = select(orm.PrivacyAccessLog)
        if contact_id is not None:
            statement = statement.where(orm.PrivacyAccessLog.contact_id == parse_global_id(contact_id, "Contact", "contactId"))
        if user_id is not None:
            statement = statement.where(orm.PrivacyAccessLog.user_id == parse_global_id(user_id, "User", "userId"))
        if last is None:
            rows = await info.context.scalars(statement.order_by(orm.PrivacyAccessLog.seq))
        else:
            newest = await info.context.scalars(statement.order_by(orm.PrivacyAccessLog.seq.desc()).limit(last))
            rows = list(reversed(newest))
        users = {u.id: u for u in await load_rows(info.context, User, list({r.user_id for r in rows if r.user_id})) if u}
        return [
            AccessLogEntry(
                seq=r.seq,
                at=r.at,
                user=UserNode.from_row(users[r.user_id]) if r.user_id in users else None,
                contact_id=to_global_id("Contact", r.contact_id),
                roles=[x for x in r.roles.split(",") if x],
                action=r.action,
                purpose=r.purpose,
                hash=r.hash,
                prev_hash=r.prev_hash,
            )
            for r in rows
        ]

    @strawberry.field(description="Recompute the access log's hash chain: any edited or removed entry breaks it.")
    async def verify_access_log(self, info: Info) -> AccessLogVerification:
        info.context.require("privacy.audit")
        async with info.context.runtime.read_session() as session:
            result = await access_log.verify(session)
        return AccessLogVerification(valid=result.valid, entries=result.entries, first_broken_seq=result.first_broken_seq)


def _holdable(info: Info) -> dict[str, str]:
    """The table of each Node type a legal hold may name, by type name: hooks name holdable
    records by their table (`enishi_holdable_types`), the API by their Node type."""
    node_types = node_types_by_table(info.schema)
    return {
        node_types[table]: table
        for _, table in info.context.runtime.plugins.contributions("enishi_holdable_types")
        if table in node_types
    }


def _request_id(value) -> uuid.UUID:
    return parse_global_id(value, "DataSubjectRequest", "id")


async def _request_payload(info: Info, permission: str, work) -> DataSubjectRequestPayload:
    row, errors = await run_mutation(info, permission, work)
    return DataSubjectRequestPayload(request=DataSubjectRequest.from_row(row) if row else None, user_errors=errors)


async def _run_payload(
    info: Info, run, request_id: strawberry.ID, permission: str = "privacy.request.manage"
) -> DataSubjectRequestPayload:
    """Execution spans several transactions (one per plugin), so it runs outside `run_mutation`."""
    viewer = info.context.require(permission)
    try:
        raw = _request_id(request_id)
        await run(info.context.runtime, raw, viewer.user_id)
    except InputError as error:
        return DataSubjectRequestPayload(request=None, user_errors=[UserErrorType.of(e) for e in error.errors])
    await info.context.after_write()
    async with info.context.runtime.read_session() as session:
        return DataSubjectRequestPayload(
            request=DataSubjectRequest.from_row(await session.get(orm.PrivacyRequest, raw)), user_errors=[]
        )


@strawberry.type
class DataSubjectRequestMutation:
    @strawberry.mutation(
        metadata=PUBLIC_FIELD,
        description=(
            "A person's own request, without a token. The answer is the same whether or not the address is "
            "known; a one-time code goes to it only if it is. Three requests per address per day; without a "
            "token, ten an hour from one client address (counted with the form and `POST /privacy/requests`)."
        ),
    )
    async def submit_data_subject_request(
        self, info: Info, input: SubmitDataSubjectRequestInput
    ) -> SubmitDataSubjectRequestPayload:
        context = info.context
        # Without a token, a client is counted per address as at the JSON route and the form.
        anonymous_client = context.client_address if context.viewer.user_id is None else None
        if anonymous_client is not None and await intake.REQUESTS_PER_CLIENT.take(context.runtime, anonymous_client):
            too_many = UserError(None, "too many requests from this client; try again in an hour", "RATE_LIMITED")
            return SubmitDataSubjectRequestPayload(request_id=None, message=None, user_errors=[UserErrorType.of(too_many)])
        row, errors = await run_mutation(info, PUBLIC_PERMISSION, lambda uow: intake.submit(uow, input_values(input)))
        return SubmitDataSubjectRequestPayload(
            request_id=to_global_id("DataSubjectRequest", row.id) if row else None,
            message=intake.SUBMITTED_MESSAGE if row else None,
            user_errors=errors,
        )

    @strawberry.mutation(
        metadata=PUBLIC_FIELD, description="Confirm your own request with the mailed code (five attempts, 24 hours)."
    )
    async def verify_data_subject_request(
        self, info: Info, input: VerifyDataSubjectRequestInput
    ) -> VerifyDataSubjectRequestPayload:
        info.context.require(PUBLIC_PERMISSION)
        try:
            await intake.confirm(
                info.context.runtime, parse_global_id(input.request_id, "DataSubjectRequest", "requestId"), input.code
            )
        except InputError as error:
            return VerifyDataSubjectRequestPayload(verified=False, user_errors=[UserErrorType.of(e) for e in error.errors])
        await info.context.after_write()
        return VerifyDataSubjectRequestPayload(verified=True, user_errors=[])

    @strawberry.mutation(description="Record a request received by phone, letter or in person.")
    async def create_data_subject_request(self, info: Info, input: CreateDataSubjectRequestInput) -> DataSubjectRequestPayload:
        values = input_values(input, skip=("contact_id",))
        values["contact_id"] = parse_global_id(input.contact_id, "Contact", "contactId")

        async def create(uow):
            # Inside the mutation, so that a receipt time without an offset is a NAIVE_DATETIME userError.
            values["received_at"] = utc_instant(input.received_at, "receivedAt")
            return await intake.create(uow, values)

        payload = await _request_payload(info, "privacy.request.intake", create)
        if payload.request is not None and payload.request.status == "approved":
            # An objection to direct marketing: no review, carried out at once by whoever took it.
            return await _run_payload(
                info, execution.execute, to_global_id("DataSubjectRequest", payload.request.id), "privacy.request.intake"
            )
        return payload

    @strawberry.mutation
    async def approve_data_subject_request(self, info: Info, id: strawberry.ID) -> DataSubjectRequestPayload:
        return await _request_payload(info, "privacy.request.manage", lambda uow: requests.approve(uow, _request_id(id)))

    @strawberry.mutation(description="Refuse a request; the reason is required and is what the person is told.")
    async def deny_data_subject_request(self, info: Info, id: strawberry.ID, reason: str) -> DataSubjectRequestPayload:
        return await _request_payload(info, "privacy.request.manage", lambda uow: requests.deny(uow, _request_id(id), reason))

    @strawberry.mutation
    async def cancel_data_subject_request(
        self, info: Info, id: strawberry.ID, reason: str | None = None
    ) -> DataSubjectRequestPayload:
        return await _request_payload(info, "privacy.request.manage", lambda uow: requests.cancel(uow, _request_id(id), reason))

    @strawberry.mutation(description="GDPR only, once: up to two more months, with the reason.")
    async def extend_data_subject_request(
        self, info: Info, id: strawberry.ID, months: int, reason: str
    ) -> DataSubjectRequestPayload:
        return await _request_payload(
            info, "privacy.request.manage", lambda uow: requests.extend(uow, _request_id(id), months, reason)
        )

    @strawberry.mutation(description="Run an approved request across every plugin.")
    async def execute_data_subject_request(self, info: Info, id: strawberry.ID) -> DataSubjectRequestPayload:
        return await _run_payload(info, execution.execute, id)

    @strawberry.mutation(description="Run again only the plugins whose part failed.")
    async def retry_data_subject_request(self, info: Info, id: strawberry.ID) -> DataSubjectRequestPayload:
        return await _run_payload(info, execution.retry, id)

    @strawberry.mutation(description="Close a request that needed work by hand (a rectification).")
    async def complete_data_subject_request(
        self, info: Info, id: strawberry.ID, note: str | None = None
    ) -> DataSubjectRequestPayload:
        return await _request_payload(
            info, "privacy.request.manage", lambda uow: requests.complete_manual(uow, _request_id(id), note)
        )

    @strawberry.mutation(description="A single-use download link for a prepared export (json or zip).")
    async def data_subject_export_link(self, info: Info, request_id: strawberry.ID, format: str = "json") -> ExportLinkPayload:
        token, errors = await run_mutation(
            info,
            "privacy.request.manage",
            lambda uow: export_delivery.issue_link(uow, parse_global_id(request_id, "DataSubjectRequest", "requestId"), format),
        )
        return ExportLinkPayload(url=f"/privacy/exports/{token}" if token else None, user_errors=errors)

    @strawberry.mutation
    async def place_legal_hold(self, info: Info, input: PlaceLegalHoldInput) -> LegalHoldPayload:
        holdable = _holdable(info)

        def work(uow):
            node_type, record_id = split_global_id(input.record_id, tuple(sorted(holdable)), "recordId")
            return legal_holds.place_hold(
                uow,
                parse_global_id(input.contact_id, "Contact", "contactId"),
                holdable[node_type],
                record_id,
                input_values(input, skip=("contact_id", "record_id")),
            )

        row, errors = await run_mutation(info, "privacy.request.manage", work)
        return LegalHoldPayload(hold=LegalHold.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def release_legal_hold(self, info: Info, id: strawberry.ID) -> LegalHoldPayload:
        row, errors = await run_mutation(
            info, "privacy.request.manage", lambda uow: legal_holds.release_hold(uow, parse_global_id(id, "LegalHold", "id"))
        )
        return LegalHoldPayload(hold=LegalHold.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="End a restriction of processing (the person asked, or its ground ended).")
    async def lift_restriction(self, info: Info, contact_id: strawberry.ID) -> RestrictionPayload:
        _, errors = await run_mutation(
            info,
            "privacy.request.manage",
            lambda uow: service.lift_restriction(uow, parse_global_id(contact_id, "Contact", "contactId")),
        )
        return RestrictionPayload(contact_id=None if errors else contact_id, user_errors=errors)


# --- breach incidents and compliance deadlines ---------------------------------------------------


@strawberry.type
class IncidentQuery:
    @strawberry.field(description="Breach incidents, the most recent awareness first.")
    async def incidents(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[Incident]:
        info.context.require("privacy.incident.manage")
        order = [(SortKey(orm.PrivacyIncident.aware_at, "datetime"), True), (SortKey(orm.PrivacyIncident.id, "uuid"), True)]
        return await paginate(
            info.context, select(orm.PrivacyIncident), order, PageRequest(first, after, None, None), Incident.from_row
        )

    @strawberry.field(
        description="Steps still owed — incident reports not filed, open data-subject requests — soonest due first."
    )
    async def compliance_deadlines(
        self, info: Info, overdue: bool | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[ComplianceDeadline]:
        info.context.require("privacy.incident.manage")
        now = info.context.runtime.clock.now()
        statement = select(ComplianceStep)
        if overdue is not None:
            statement = statement.where(ComplianceStep.due_at <= now if overdue else ComplianceStep.due_at > now)
        order = [
            (SortKey(ComplianceStep.due_at, "datetime"), False),
            (SortKey(ComplianceStep.kind, "text"), False),
            (SortKey(ComplianceStep.reference_id, "uuid"), False),
        ]

        def to_node(step) -> ComplianceDeadline:
            node_type = "DataSubjectRequest" if step.kind == "dsr_response" else "Incident"
            return ComplianceDeadline(
                kind=ComplianceDeadlineKind(step.kind),
                reference=to_global_id(node_type, step.reference_id),
                due_at=step.due_at,
                overdue=now >= step.due_at,
            )

        return await paginate(info.context, statement, order, PageRequest(first, after, None, None), to_node)


def _incident_id(value) -> uuid.UUID:
    return parse_global_id(value, "Incident", "incidentId")


async def _incident_payload(info: Info, work) -> IncidentPayload:
    row, errors = await run_mutation(info, "privacy.incident.manage", work)
    return IncidentPayload(incident=Incident.from_row(row) if row else None, user_errors=errors)


@strawberry.type
class IncidentMutation:
    @strawberry.mutation(description="Register a personal-data breach: computes what it owes and by when.")
    async def create_incident(self, info: Info, input: CreateIncidentInput) -> IncidentPayload:
        def create(uow):
            values = input_values(input, skip=("contact_ids",))
            values["discovered_at"] = utc_instant(input.discovered_at, "discoveredAt")
            values["aware_at"] = utc_instant(input.aware_at, "awareAt")
            values["contact_ids"] = [parse_global_id(c, "Contact", "contactIds") for c in input.contact_ids]
            return incidents.create(uow, values)

        return await _incident_payload(info, create)

    @strawberry.mutation(description="Record a report filed (or the people notified), once per kind, on the timeline.")
    async def record_incident_report(self, info: Info, input: RecordIncidentReportInput) -> IncidentPayload:
        def record(uow):
            values = {"kind": input.kind.value, "reference": input.reference, "note": input.note}
            values["filed_at"] = utc_instant(input.filed_at, "filedAt")
            return incidents.record_report(uow, _incident_id(input.incident_id), values)

        return await _incident_payload(info, record)

    @strawberry.mutation(description="open → contained → closed (or back to open until closed).")
    async def update_incident_status(
        self, info: Info, incident_id: strawberry.ID, status: str, note: str | None = None
    ) -> IncidentPayload:
        return await _incident_payload(info, lambda uow: incidents.change_status(uow, _incident_id(incident_id), status, note))

    @strawberry.mutation(description="Add the people a (misused) account read or exported in a window, from the access log.")
    async def add_incident_subjects_from_access_log(
        self, info: Info, input: AddIncidentSubjectsFromAccessLogInput
    ) -> IncidentPayload:
        def add(uow):
            return incidents.add_subjects_from_access_log(
                uow,
                _incident_id(input.incident_id),
                parse_global_id(input.user_id, "User", "userId"),
                utc_instant(input.since, "since"),
                utc_instant(input.until, "until"),
            )

        return await _incident_payload(info, add)

    @strawberry.mutation(description="Mail the notice to every affected person not told yet, through the outbox.")
    async def notify_incident_subjects(self, info: Info, input: NotifyIncidentSubjectsInput) -> IncidentPayload:
        return await _incident_payload(
            info,
            lambda uow: incidents.notify_subjects(
                uow, _incident_id(input.incident_id), {"subject": input.subject, "body": input.body}
            ),
        )
