"""GraphQL of what compliance takes out of the system: reports (records of processing, the APPI
public statement, consent records) and pseudonymised or anonymised extracts, each handed out
through a single-use link (`/privacy/downloads/{token}`); and the public statement's page."""

from __future__ import annotations

import base64
import datetime as dt
from enum import Enum
from typing import Any, cast

import strawberry
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import HTMLResponse
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi.plugin import RowsByColumn, UserErrorType, node_resolver, parse_global_id, run_mutation

from . import downloads, export, extracts, reports
from .extract_models import PrivacyExtract
from .models import PrivacyProvision
from .service import fail

REPORT_PERMISSION = "privacy.report.read"
EXTRACT_PERMISSION = "privacy.extract.create"
KEY_PERMISSION = "privacy.extract.key"
PROVISIONS = RowsByColumn(PrivacyProvision, PrivacyProvision.extract_id, PrivacyProvision.provided_at)


@strawberry.enum
class PrivacyReport(Enum):
    RECORDS_OF_PROCESSING = "records_of_processing"
    APPI_PUBLIC_STATEMENT = "appi_public_statement"
    CONSENT_RECORDS = "consent_records"
    PROVISION_RECORDS = "provision_records"


@strawberry.enum
class PrivacyReportFormat(Enum):
    JSON = "json"
    CSV = "csv"
    HTML = "html"


@strawberry.enum
class PrivacyExtractKind(Enum):
    PSEUDONYMISED = "pseudonymised"
    ANONYMISED = "anonymised"


@strawberry.type
class PrivacyExtractProvisionRecord:
    recipient: str
    provided_at: dt.datetime


@strawberry.type(
    name="PrivacyExtract",
    description="An extract identifying no one: pseudonymised (仮名加工情報) or anonymised (匿名加工情報).",
)
class PrivacyExtractNode(relay.Node):
    id: relay.NodeID[str]
    kind: PrivacyExtractKind
    source: str
    columns: list[str]
    k: int | None = strawberry.field(
        description="Anonymised: each combination of age band and prefecture occurs at least k times."
    )
    rows: int
    suppressed: int = strawberry.field(
        description="Anonymised: rows left out because their combination occurred fewer than k times."
    )
    purpose: str
    created_at: dt.datetime
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, r) -> PrivacyExtractNode:
        return cls(
            id=str(r.id),
            kind=PrivacyExtractKind(r.kind),
            source=r.source,
            columns=list(r.columns),
            k=r.k,
            rows=r.rows,
            suppressed=r.suppressed,
            purpose=r.purpose,
            created_at=r.created_at,
            _row=r,
        )

    resolve_nodes = node_resolver(PrivacyExtract, EXTRACT_PERMISSION)

    @strawberry.field(description="Third parties it was provided to (anonymised extracts only; in `provisionRecords` too).")
    async def provisions(self, info: Info) -> list[PrivacyExtractProvisionRecord]:
        rows = await PROVISIONS.load(info.context, self._row.id)
        return [PrivacyExtractProvisionRecord(recipient=r.recipient, provided_at=r.provided_at) for r in rows]


@strawberry.input
class PrivacyReportLinkInput:
    report: PrivacyReport
    format: PrivacyReportFormat


@strawberry.type
class DownloadLinkPayload:
    url: str | None = strawberry.field(description="Works once, for 15 minutes. Shown only now.")
    user_errors: list[UserErrorType]


@strawberry.input
class CreatePrivacyExtractInput:
    kind: PrivacyExtractKind
    purpose: str = strawberry.field(description="What the extract is for (a pseudonymised one keeps the original purposes).")
    source: str = strawberry.field(
        default="contacts", description="`contacts`, or a plugin's source (`privacyExtractSources`): pseudonymised only."
    )
    k: int | None = strawberry.field(default=None, description="Anonymised only; default 5 (`extra.privacy_anonymisation_k`).")


@strawberry.type
class PrivacyExtractPayload:
    extract: PrivacyExtractNode | None
    url: str | None = strawberry.field(description="The extract as CSV: works once, for 15 minutes.")
    user_errors: list[UserErrorType]


@strawberry.input
class ProvidePrivacyExtractInput:
    extract_id: strawberry.ID
    recipient: str = strawberry.field(description="A recipient's name in the register (`registerRecipient`).")


def _link(token: str | None) -> str | None:
    return f"/privacy/downloads/{token}" if token else None


@strawberry.type
class DocumentsQuery:
    @strawberry.field(
        description="The full record of processing activities (GDPR Art. 30(1)) as JSON: the core's `recordsOfProcessing` "
        "with the controller, descriptions, recipients, retention, security measures and what is `missing`."
    )
    async def records_of_processing_report(self, info: Info) -> JSON:
        info.context.require(REPORT_PERMISSION)
        async with info.context.runtime.read_session() as session:
            return cast(JSON, await reports.records_of_processing(info.context.runtime, session))

    @strawberry.field(
        description="The APPI Art. 32 public statement (公表事項) from the catalog, as JSON; `missing` lists what to configure."
    )
    async def appi_public_statement(self, info: Info) -> JSON:
        info.context.require(REPORT_PERMISSION)
        async with info.context.runtime.read_session() as session:
            return cast(JSON, await reports.appi_public_statement(info.context.runtime, session))

    @strawberry.field(description="What an extract may be made of: `contacts`, and each plugin's source (pseudonymised only).")
    def privacy_extract_sources(self, info: Info) -> list[str]:
        info.context.require(EXTRACT_PERMISSION)
        return extracts.source_names(info.context.runtime)

    @strawberry.field(description="Extracts made, the most recent first.")
    async def privacy_extracts(self, info: Info) -> list[PrivacyExtractNode]:
        info.context.require(EXTRACT_PERMISSION)
        rows = await info.context.scalars(select(PrivacyExtract).order_by(PrivacyExtract.created_at.desc(), PrivacyExtract.id))
        return [PrivacyExtractNode.from_row(r) for r in rows]

    @strawberry.field(description="A pseudonymised extract's HMAC key (削除情報等), base64; compliance only.")
    async def privacy_extract_mapping_key(self, info: Info, extract_id: strawberry.ID) -> str | None:
        info.context.require(KEY_PERMISSION)
        async with info.context.runtime.read_session() as session:
            key = await extracts.mapping_key(session, parse_global_id(extract_id, "PrivacyExtract", "extractId"))
        return base64.b64encode(key).decode() if key else None


@strawberry.type
class DocumentsMutation:
    @strawberry.mutation(description="A single-use link to a report in a format (consent and provision records: CSV).")
    async def privacy_report_link(self, info: Info, input: PrivacyReportLinkInput) -> DownloadLinkPayload:
        name, format = input.report.value, input.format.value

        async def work(uow):
            if (problem := reports.check(name, format)) is not None:
                raise fail("format", problem, "INVALID_FORMAT")
            content = reports.render(name, await reports.build(uow.runtime, uow.session, name), format)
            return await downloads.issue(uow, name, format, REPORT_PERMISSION, content)

        token, errors = await run_mutation(info, REPORT_PERMISSION, work)
        return DownloadLinkPayload(url=_link(token), user_errors=errors)

    @strawberry.mutation(description="Make an extract of the contacts or a plugin's records and a single-use link to it as CSV.")
    async def create_privacy_extract(self, info: Info, input: CreatePrivacyExtractInput) -> PrivacyExtractPayload:
        async def work(uow):
            extract, rows = await extracts.create(
                uow, {"kind": input.kind.value, "source": input.source, "purpose": input.purpose, "k": input.k}
            )
            token = await downloads.issue(
                uow, f"{extract.kind}-extract", "csv", EXTRACT_PERMISSION, export.csv_text(rows, list(extract.columns)).encode()
            )
            return extract, token

        done, errors = await run_mutation(info, EXTRACT_PERMISSION, work)
        return PrivacyExtractPayload(
            extract=PrivacyExtractNode.from_row(done[0]) if done else None,
            url=_link(done[1]) if done else None,
            user_errors=errors,
        )

    @strawberry.mutation(
        description="Record in the provision register that an anonymised extract was provided to a registered recipient; "
        "a pseudonymised one never may be."
    )
    async def provide_privacy_extract(self, info: Info, input: ProvidePrivacyExtractInput) -> PrivacyExtractPayload:
        async def work(uow):
            provision = await extracts.provide(
                uow, parse_global_id(input.extract_id, "PrivacyExtract", "extractId"), input.recipient
            )
            return await extracts.load(uow.session, provision.extract_id)

        extract, errors = await run_mutation(info, EXTRACT_PERMISSION, work)
        return PrivacyExtractPayload(
            extract=PrivacyExtractNode.from_row(extract) if extract else None, url=None, user_errors=errors
        )


async def public_statement(request: Request) -> HTMLResponse:
    """GET /privacy/statement: the APPI public statement, for anyone (公表: the person must be able to know it)."""
    runtime = request.app.state.runtime
    async with runtime.read_session() as session:
        document = await reports.appi_public_statement(runtime, session)
    document.pop("missing")  # the officer's to-do list, not the public's
    return HTMLResponse(reports.render("appi_public_statement", document, "html"))
