"""The plugin kit: everything a plugin imports from Enishi, and the only Enishi module it imports.

`from enishi.plugin import hookimpl, Base, UnitOfWork, run_mutation, ...`. The names listed in
`__all__` are the semver surface of the framework: `tests/core/test_plugin_kit.py` snapshots them
with their signatures in `docs/plugin-kit-api.txt`, so changing one is a conscious act recorded in
CHANGELOG.md; `docs/plugin-kit.md` is generated from the docstrings (`enishi kit-doc`).
Everything else under `enishi.*` is internal and may change in any release.

Names are grouped as a plugin meets them: hooks, models, the unit of work and events,
contributions, errors, GraphQL parts, services, crypto and mail, time, permissions. A core table
and its GraphQL type share a name in the core; here the table keeps it (`Contact`) and the GraphQL
type carries `Node` (`ContactNode`)."""

from enishi import auth as _auth
from enishi.clock import Clock
from enishi.contributions import (
    ActivityType,
    CliCommand,
    CustomerSignal,
    DataSubject,
    ErasureReport,
    Event,
    EventType,
    ExtractSource,
    GaugeReading,
    ImportColumn,
    MergeMove,
    PayloadField,
    Permission,
    PersonalDataField,
    RetainableEntity,
    ScheduledJob,
    SegmentTerm,
    SensitiveCapableField,
    WonDeal,
    WorkflowStep,
    WorkflowStepType,
)
from enishi.crypto import KeyRing, blind_indexes, decrypt, decrypt_bytes, encrypt, sign, token_hash, verify
from enishi.db import Base, UTCDateTime, checkpoint, new_id
from enishi.db import JSONType as _JSONType
from enishi.errors import EnishiError, Forbidden, InputError, NotFound, UserError
from enishi.events import (
    ACCOUNT_CREATED,
    ACCOUNT_DELETED,
    ACCOUNT_DESTROYED,
    ACCOUNT_MERGED,
    ACCOUNT_RESTORED,
    ACCOUNT_UPDATED,
    ACTIVITY_DELETED,
    ACTIVITY_LOGGED,
    ACTIVITY_UPDATED,
    CONTACT_CREATED,
    CONTACT_DELETED,
    CONTACT_DESTROYED,
    CONTACT_MERGED,
    CONTACT_PERSONAL_DATA_READ,
    CONTACT_RESTORED,
    CONTACT_UPDATED,
    IMPORT_COMPLETED,
    IMPORT_CREATED,
    PURCHASE_RECORDED,
    PURCHASE_REFUNDED,
    SURVEY_ANSWERED,
    TASK_COMPLETED,
    TASK_CREATED,
    TASK_DELETED,
    TASK_UPDATED,
)
from enishi.graphql import schema as _schema
from enishi.graphql.batch import batch_field
from enishi.graphql.console.public import PublicPages
from enishi.graphql.errors import UserErrorType
from enishi.graphql.filters import DateTimeFilter, FilterSpec, IDFilter, IntFilter, StringFilter, check_filter_text
from enishi.graphql.inputs import camel, input_values, utc_instant
from enishi.graphql.loaders import RowsByColumn, fetch_rows, load_row, load_rows, then
from enishi.graphql.mutation import api_spelling, run_mutation
from enishi.graphql.nodes import deferred_sealed_field, node_resolver, node_types_by_table, sealed_field
from enishi.graphql.relay import (
    Connection,
    InvalidArgument,
    NestedConnection,
    OrderDirection,
    PageRequest,
    SortKey,
    paginate,
    parse_global_id,
    split_global_id,
    to_global_id,
)
from enishi.graphql.scalars import MinorUnits as _MinorUnits
from enishi.mail import MailAttachment, send_for_event
from enishi.models import (
    Account,
    Activity,
    ActivityTarget,
    Contact,
    ContactAccount,
    ContactEmail,
    ContactPhone,
    Purchase,
    SubjectKey,
    Task,
    User,
)
from enishi.normalize import is_valid_email, like_pattern, normalize_email, search_key, search_query_key
from enishi.periods import next_period, period_spans, period_start
from enishi.plugin_host import hookimpl as _hookimpl
from enishi.runtime import Runtime, UnitOfWork
from enishi.schema.exports import compile_filter, filter_json
from enishi.schema.queries import AccountFilter, ContactFilter
from enishi.schema.types import Account as AccountNode
from enishi.schema.types import Contact as ContactNode
from enishi.schema.types import Task as TaskNode
from enishi.schema.types import User as UserNode
from enishi.schema.types import visible_custom_fields
from enishi.sealing import DataKey, Sealable, Sealed, lean_record, owns_key, shares_key, unrecorded_reads
from enishi.services.accounts import update_account
from enishi.services.activities import log_activity
from enishi.services.common import Checker, live_ids, load_for_update, one_at_a_time, record_kind
from enishi.services.contact_dates import contacts_on_yearly_dates, yearly_month_days
from enishi.services.contacts import delete_contact, update_contact
from enishi.services.custom_fields import check_custom_field, custom_field_type
from enishi.services.data_keys import shred_records, subject_key
from enishi.services.purchases import record_purchase, refund_purchase
from enishi.services.sensitive import READ_PERMISSION as SENSITIVE_READ_PERMISSION
from enishi.services.sensitive import guard_custom_fields as guard_sensitive_custom_fields
from enishi.services.sensitive import keep_hidden as keep_sensitive_custom_fields
from enishi.services.tasks import create_task
from enishi.settings import Settings
from enishi.survey_pages import survey_answer_response, survey_form, survey_refusal
from enishi.throttle import Throttle

hookimpl = _hookimpl
"""Marks a function of the module a plugin's `enishi.plugins` entry point names as the
implementation of the hook of the same name: `@hookimpl def enishi_models(): ...` (see docs/hooks.md).
`@hookimpl(tryfirst=True)` and the other pluggy options apply; wrappers are refused."""

JSONType = _JSONType
"""Column type for a JSON document: JSON on SQLite, JSONB on PostgreSQL
(`mapped_column(JSONType, default=dict)`; in a migration, `enishi.plugin.JSONType`)."""

MinorUnits = _MinorUnits
"""A GraphQL scalar for money: an integer count of the currency's minor unit (yen for JPY,
cents for USD), up to 2^53 − 1, where GraphQL's `Int` stops at 2^31 − 1 (¥2.1 billion). Annotate a
field or an input `MinorUnits` (`amount: MinorUnits`); values are plain `int`s, never floats."""

ROLES = _auth.ROLES
"""Every role a user may hold, `admin` first. Permissions name the roles that hold them by default."""

NON_ADMIN_ROLES = _auth.NON_ADMIN_ROLES
"""Every role but `admin` (which holds every permission anyway): the `roles` of a permission any
signed-in user holds, such as a plugin's `<plugin>.read`."""

PUBLIC_PERMISSION = _auth.PUBLIC
"""The permission every caller holds, signed in or not: `run_mutation(info, PUBLIC_PERMISSION, ...)`
for a mutation anonymous callers may run (it must also be marked with `PUBLIC_FIELD`)."""

PUBLIC_FIELD = _schema.PUBLIC
"""Field metadata that opens a root field to anonymous callers:
`@strawberry.mutation(metadata=PUBLIC_FIELD)`. Every other root field refuses a request without a token."""

__all__ = [
    # hooks
    "hookimpl",
    # models: the base, column types, ids, sealing, and the core tables a plugin may reference
    "Base",
    "UTCDateTime",
    "JSONType",
    "new_id",
    "DataKey",
    "Sealable",
    "Sealed",
    "owns_key",
    "shares_key",
    "lean_record",
    "Account",
    "Activity",
    "ActivityTarget",
    "Contact",
    "ContactAccount",
    "ContactEmail",
    "ContactPhone",
    "Purchase",
    "SubjectKey",
    "Task",
    "User",
    # the unit of work, the runtime and events
    "UnitOfWork",
    "Runtime",
    "Settings",
    "Event",
    "EventType",
    "PayloadField",
    "checkpoint",
    # the core's events (`uow.emit(CONTACT_CREATED, ...)`, `event.is_(ACTIVITY_LOGGED)`; docs/hooks.md lists their payloads)
    "ACCOUNT_CREATED",
    "ACCOUNT_UPDATED",
    "ACCOUNT_DELETED",
    "ACCOUNT_RESTORED",
    "ACCOUNT_DESTROYED",
    "ACCOUNT_MERGED",
    "CONTACT_CREATED",
    "CONTACT_UPDATED",
    "CONTACT_DELETED",
    "CONTACT_RESTORED",
    "CONTACT_DESTROYED",
    "CONTACT_MERGED",
    "CONTACT_PERSONAL_DATA_READ",
    "ACTIVITY_LOGGED",
    "ACTIVITY_UPDATED",
    "ACTIVITY_DELETED",
    "TASK_CREATED",
    "TASK_UPDATED",
    "TASK_COMPLETED",
    "TASK_DELETED",
    "IMPORT_CREATED",
    "IMPORT_COMPLETED",
    "PURCHASE_RECORDED",
    "PURCHASE_REFUNDED",
    "SURVEY_ANSWERED",
    # contributions
    "ActivityType",
    "CliCommand",
    "CustomerSignal",
    "DataSubject",
    "ErasureReport",
    "GaugeReading",
    "ImportColumn",
    "MergeMove",
    "Permission",
    "PersonalDataField",
    "RetainableEntity",
    "ExtractSource",
    "SensitiveCapableField",
    "ScheduledJob",
    "SegmentTerm",
    "WonDeal",
    "WorkflowStep",
    "WorkflowStepType",
    # errors
    "EnishiError",
    "Forbidden",
    "InputError",
    "InvalidArgument",
    "NotFound",
    "UserError",
    # GraphQL: mutations, ids and nodes, connections, filters, batch fields and loaders
    "run_mutation",
    "api_spelling",
    "input_values",
    "camel",
    "utc_instant",
    "UserErrorType",
    "MinorUnits",
    "to_global_id",
    "parse_global_id",
    "split_global_id",
    "node_resolver",
    "node_types_by_table",
    "sealed_field",
    "deferred_sealed_field",
    "AccountNode",
    "ContactNode",
    "TaskNode",
    "UserNode",
    "Connection",
    "NestedConnection",
    "OrderDirection",
    "PageRequest",
    "SortKey",
    "paginate",
    "DateTimeFilter",
    "FilterSpec",
    "IDFilter",
    "IntFilter",
    "StringFilter",
    "check_filter_text",
    "ContactFilter",
    "AccountFilter",
    "filter_json",
    "compile_filter",
    "batch_field",
    "fetch_rows",
    "RowsByColumn",
    "load_row",
    "load_rows",
    "then",
    "PUBLIC_FIELD",
    # services
    "Checker",
    "live_ids",
    "load_for_update",
    "record_kind",
    "one_at_a_time",
    "log_activity",
    "create_task",
    "delete_contact",
    "guard_sensitive_custom_fields",
    "keep_sensitive_custom_fields",
    "visible_custom_fields",
    "SENSITIVE_READ_PERMISSION",
    "unrecorded_reads",
    "update_contact",
    "update_account",
    "check_custom_field",
    "custom_field_type",
    "contacts_on_yearly_dates",
    "yearly_month_days",
    "record_purchase",
    "refund_purchase",
    "subject_key",
    "shred_records",
    "search_key",
    "search_query_key",
    "like_pattern",
    "normalize_email",
    "is_valid_email",
    # crypto and mail
    "encrypt",
    "decrypt",
    "decrypt_bytes",
    "token_hash",
    "sign",
    "verify",
    "blind_indexes",
    "KeyRing",
    "send_for_event",
    "MailAttachment",
    # survey links: the answer page, its refusals and its form post
    "survey_form",
    "survey_refusal",
    "survey_answer_response",
    # pages for people who do not sign in (data subjects), in the console's look and languages
    "PublicPages",
    # how often a client may do something (a request form sent), counted in the database
    "Throttle",
    # time
    "Clock",
    "period_start",
    "period_spans",
    "next_period",
    # permissions and roles
    "ROLES",
    "NON_ADMIN_ROLES",
    "PUBLIC_PERMISSION",
]
