"""Exports over GraphQL (`exportContacts`, `exportAccounts`, `exportActivities`), and what the
download route and `enishi export` share: reading a filter given as JSON, and running an export
whose personal reads reach the access log.

A mutation answers a single-use link (`GET /exports/{token}`, valid `LINK_LIFETIME`); the file is
generated when the link is used, from the request recorded with it. The link alone suffices, as a
pre-signed URL does: a browser following it sends no Authorization header. It is 256-bit random,
works once, expires soon, and only while its creator still holds `crm.read` and `crm.export`."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import AsyncIterator
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLInputObjectType
from graphql.utilities.coerce_input_value import coerce_input_value
from graphql.utilities.validate_input_value import validate_input_value
from strawberry.annotation import StrawberryAnnotation
from strawberry.types import Info
from strawberry.types.arguments import convert_argument
from strawberry.utils.str_converters import to_camel_case

from enishi.errors import EnishiError, InputError, UserError
from enishi.graphql.errors import UserErrorType
from enishi.graphql.filters import FilterSpec
from enishi.sealing import personal_reads
from enishi.services import exports
from enishi.services.export_files import EXPORT_PERMISSIONS, EncodingReport, check_request, create_link, render
from enishi.services.sensitive import custom_keys, sensitive_fields

from .queries import ACCOUNT_FILTER, ACTIVITY_FILTER, CONTACT_FILTER, AccountFilter, ActivityFilter, ContactFilter

# The filter input each kind takes: the one its list query takes, compiled by the same spec.
FILTERS: dict[str, tuple[type, FilterSpec]] = {
    "contacts": (ContactFilter, CONTACT_FILTER),
    "accounts": (AccountFilter, ACCOUNT_FILTER),
    "activities": (ActivityFilter, ACTIVITY_FILTER),
}


@strawberry.type
class _FilterTypes:
    """A schema of the filter inputs alone: a filter given as JSON (the CLI's `--filter`, a link's
    recorded request) is validated and converted by the GraphQL machinery a request's is."""

    @strawberry.field
    def probe(
        self,
        contacts: ContactFilter | None = None,
        accounts: AccountFilter | None = None,
        activities: ActivityFilter | None = None,
    ) -> int:
        return 0


@functools.cache
def _filter_schema() -> strawberry.Schema:
    return strawberry.Schema(query=_FilterTypes)


def _invalid_filter(message: str, code: str = "INVALID_FILTER", field: str = "filter") -> InputError:
    return InputError(UserError(field, message, code))


def parse_filter(kind: str, value: Any):
    """The filter input of `kind` from its JSON form (as GraphQL variables give it), or an
    `INVALID_FILTER` input error naming where it is wrong."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid_filter("must be a JSON object, as the list query's `filter` takes")
    schema = _filter_schema()
    input_class, _ = FILTERS[kind]
    graphql_type = schema._schema.get_type(input_class.__name__)
    assert isinstance(graphql_type, GraphQLInputObjectType)  # FILTERS names the schema's filter input types
    problems: list[str] = []

    def note(error, path) -> None:
        # graphql-core appends the whole value ("Found: {...}"), which may be personal; the path is enough.
        where = ".".join(str(step) for step in path)
        problems.append(f"{where + ': ' if where else ''}{error.message.split(' Found: ')[0]}")

    validate_input_value(value, graphql_type, note)
    if problems:
        raise _invalid_filter(problems[0])
    coerced = coerce_input_value(value, graphql_type)
    annotation = StrawberryAnnotation(input_class).resolve()
    return convert_argument(coerced, annotation, schema.schema_converter.scalar_registry, schema.config)


def compile_filter(kind: str, value: dict | None, now: dt.datetime):
    """The SQL condition of a filter recorded as JSON (`filter_json`) for `kind` (`"contacts"`,
    `"accounts"`, `"activities"`), refused as the list query refuses it (`InputError` with
    `filter.<field>` user errors); `now` (the injected clock's) anchors relative terms such as
    `inactiveDays`. A saved segment or a link stores the JSON and compiles it when it runs."""
    _, spec = FILTERS[kind]
    parsed = parse_filter(kind, value)
    try:
        return spec.compile(parsed, now)
    except InputError as error:
        errors = [UserError(f"filter.{to_camel_case(e.field)}" if e.field else "filter", e.message, e.code) for e in error.errors]
        raise InputError(errors) from None
    except EnishiError as error:
        raise _invalid_filter(str(error), error.code) from None


def filter_json(value: Any) -> Any:
    """A filter input as the JSON GraphQL takes (field names camelCased, unset fields left out):
    how a link records it."""
    definition = getattr(value, "__strawberry_definition__", None)
    if definition is not None:
        return {
            field.graphql_name or to_camel_case(field.python_name): filter_json(getattr(value, field.python_name))
            for field in definition.fields
            if getattr(value, field.python_name) is not None
        }
    if isinstance(value, list):
        return [filter_json(item) for item in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def export_file(
    runtime,
    actor_id: uuid.UUID | None,
    kind: str,
    format: str,
    encoding: str,
    filter: dict | None,
    report: EncodingReport | None = None,
) -> AsyncIterator[bytes]:
    """The file's bytes as they are written. A bad request is refused here, before any output.
    Whom the export reads goes to `enishi_request_finished` with `actor_id` (the access log), as
    a GraphQL request's reads do, a batch of rows at a time, before the batch is written."""
    check_request(kind, format, encoding)
    condition = compile_filter(kind, filter, runtime.clock.now())
    return _recorded(runtime, actor_id, kind, condition, format, encoding, report)


async def _recorded(runtime, actor_id, kind, condition, format, encoding, report) -> AsyncIterator[bytes]:
    # Asked in a session of its own: the export's must begin with its snapshot (REPEATABLE READ).
    async with runtime.read_session() as session:
        hidden = custom_keys(await sensitive_fields(runtime.plugins, session, "contact"))
    async with runtime.read_session() as session:
        # The first pass (the custom-field keys, for the header) is not recorded: the rows that
        # follow decrypt the same people, in the same snapshot.
        quiet = personal_reads.set(None)
        try:
            plugin_columns = [column for _, column in runtime.plugins.contributions("enishi_import_columns")]
            table = await exports.table(session, kind, condition, runtime.settings.zone, plugin_columns, hidden)
        finally:
            personal_reads.reset(quiet)
        table.batches = _reported(runtime, actor_id, table.batches)
        async for chunk in render(table, format, encoding, report):
            yield chunk


async def _reported(runtime, actor_id, batches: AsyncIterator[list]) -> AsyncIterator[list]:
    """The table's batches, each one's reads reported through `enishi_request_finished` before it
    is handed to the writer: the access log always runs ahead of the file, however far a download
    gets, and a batch at a time (not 100,000 entries in one transaction). Raising stops the file.
    Reads are recorded only while a batch is read, never across a `yield` (whose caller may be
    another context)."""
    iterator = batches.__aiter__()
    while True:
        reads: set = set()
        recording = personal_reads.set(reads)
        try:
            batch = await iterator.__anext__()
        except StopAsyncIteration:
            return
        finally:
            personal_reads.reset(recording)
        if reads:
            await runtime.plugins.call("enishi_request_finished", runtime=runtime, actor_id=actor_id, personal_reads=reads)
        yield batch


# --- GraphQL ------------------------------------------------------------------------------------


@strawberry.enum(description="The file an export writes.")
class ExportFormat(Enum):
    CSV = "csv"
    XLSX = "xlsx"


@strawberry.enum(description="A CSV file's encoding: UTF-8 with a BOM (what Excel needs to read Japanese), or CP932.")
class ExportEncoding(Enum):
    UTF_8 = "utf-8"
    CP932 = "cp932"


_ENCODING_HELP = "CSV only. CP932 writes characters it cannot encode as 〓."


@strawberry.input(
    description="The export is handed to someone outside the business: recorded as a provision of the people's data "
    "(`enishi_record_provision`, APPI 法第29条), which may refuse it."
)
class ExportProvisionInput:
    recipient: str = strawberry.field(description="The recipient's name (with the privacy plugin: as registered).")
    purpose: str


_PROVISION_HELP = "Set when the file goes to a third party or a processor; leave out for the business's own use."


@strawberry.input(description="Export the contacts a `contacts` filter matches (all live ones without a filter).")
class ExportContactsInput:
    format: ExportFormat = ExportFormat.CSV
    encoding: ExportEncoding = strawberry.field(default=ExportEncoding.UTF_8, description=_ENCODING_HELP)
    filter: ContactFilter | None = None
    provision: ExportProvisionInput | None = strawberry.field(default=None, description=_PROVISION_HELP)


@strawberry.input(description="Export the accounts an `accounts` filter matches (all live ones without a filter).")
class ExportAccountsInput:
    format: ExportFormat = ExportFormat.CSV
    encoding: ExportEncoding = strawberry.field(default=ExportEncoding.UTF_8, description=_ENCODING_HELP)
    filter: AccountFilter | None = None


@strawberry.input(description="Export the activities an `activities` filter matches (the whole timeline without a filter).")
class ExportActivitiesInput:
    format: ExportFormat = ExportFormat.CSV
    encoding: ExportEncoding = strawberry.field(default=ExportEncoding.UTF_8, description=_ENCODING_HELP)
    filter: ActivityFilter | None = None
    provision: ExportProvisionInput | None = strawberry.field(default=None, description=_PROVISION_HELP)


@strawberry.type(description="Where to download the export: once, before `expiresAt`.")
class ExportPayload:
    url: str | None = strawberry.field(
        description="A single-use link (no Authorization header needed); the file is generated when it is used."
    )
    expires_at: dt.datetime | None
    user_errors: list[UserErrorType]


async def _export(info: Info, kind: str, input: Any) -> ExportPayload:
    ctx = info.context
    for permission in EXPORT_PERMISSIONS:
        viewer = ctx.require(permission)
    recorded = filter_json(input.filter) if input.filter is not None else None
    provision = getattr(input, "provision", None)
    try:
        condition = compile_filter(kind, recorded, ctx.runtime.clock.now())
        async with ctx.runtime.unit_of_work(viewer.user_id) as uow:
            token, link = await create_link(uow, kind, input.format.value, input.encoding.value, recorded)
            if provision is not None:
                await _record_provision(uow, kind, condition, provision)
    except InputError as error:
        return ExportPayload(url=None, expires_at=None, user_errors=[UserErrorType.of(e) for e in error.errors])
    return ExportPayload(url=ctx.settings.public_link(f"/exports/{token}"), expires_at=link.expires_at, user_errors=[])


async def _record_provision(uow, kind: str, condition, provision: ExportProvisionInput) -> None:
    """An export for someone outside is a provision of the data of everyone in it, recorded when
    the link is issued (the link is the hand-over), in its unit of work: a refusal issues no link."""
    people = await exports.people_exported(uow.session, kind, condition)
    if people:
        await uow.runtime.plugins.call(
            "enishi_record_provision",
            uow=uow,
            contact_ids=people,
            recipient=provision.recipient,
            purpose=provision.purpose,
            data_items=exports.data_items(kind),
        )


@strawberry.type
class ExportMutation:
    @strawberry.mutation(
        description="A single-use link to the contacts as CSV or .xlsx, with the columns `enishi import` reads. "
        "Needs `crm.read` and `crm.export`; the download is written to the access log."
    )
    async def export_contacts(self, info: Info, input: ExportContactsInput) -> ExportPayload:
        return await _export(info, "contacts", input)

    @strawberry.mutation(description="A single-use link to the accounts as CSV or .xlsx. Needs `crm.read` and `crm.export`.")
    async def export_accounts(self, info: Info, input: ExportAccountsInput) -> ExportPayload:
        return await _export(info, "accounts", input)

    @strawberry.mutation(
        description="A single-use link to the activities as CSV or .xlsx. Needs `crm.read` and `crm.export`; "
        "the download is written to the access log for the people the activities concern."
    )
    async def export_activities(self, info: Info, input: ExportActivitiesInput) -> ExportPayload:
        return await _export(info, "activities", input)
