"""Core tables: users and tokens, accounts, contacts, the activity timeline, tasks, the outbox.

Plugins may point foreign keys at these tables; these tables never point at a plugin's."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, JSONType, UTCDateTime, new_id
from .normalize import normalize_email, search_key
from .sealing import DataKey, Sealable, Sealed, owns_key, shares_key


class User(Base):
    """A person who signs in (or an integration): `roles` decide the permissions they hold."""

    __tablename__ = "core_user"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    roles: Mapped[list] = mapped_column(JSONType, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ConsoleAccount(Base):
    """What a user needs to sign in to the console, apart from `User` (which plugins see through
    the kit): the password's hash and the console language they chose."""

    __tablename__ = "core_console_account"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), primary_key=True)
    # scrypt, its parameters inside (core/auth.py); set by `enishi user create` / `enishi user password`.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # NULL: the browser's Accept-Language decides.
    ui_locale: Mapped[str | None] = mapped_column(String(10))
    # Dates shown in the Japanese era calendar (令和8年12月6日) rather than the Gregorian one.
    japanese_era: Mapped[bool] = mapped_column(Boolean, default=False)


class ConsoleSignInLink(Base):
    """A one-time sign-in link mailed to a console user. Only the SHA-256 of its 256-bit token is
    kept; it signs in once (`used_at`), before `expires_at`."""

    __tablename__ = "core_console_sign_in_link"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ThrottleCount(Base):
    """Attempts counted against one key of a throttle (enishi.throttle: console sign-in per account
    and per client address, a data subject's requests per client address) in its current window,
    in the database so that every server process counts the same. The key is the key ring's blind
    index (an HMAC) of the throttle's scope and the account or address: neither is kept in clear.
    A daily job deletes the rows whose window ended."""

    __tablename__ = "core_throttle"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    window_ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class ConsoleSession(Base):
    """A signed-in console session. The cookie holds a 256-bit random id; only its SHA-256 is kept,
    so a copy of the database signs no one in. `roles` is what the user held at sign-in: a session
    whose user's roles changed since, or who was deactivated, is ended at its next request."""

    __tablename__ = "core_console_session"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    roles: Mapped[list] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """Only a SHA-256 of the token is stored: tokens are 256-bit random, so a slow hash buys
    nothing and would cost every request."""

    __tablename__ = "core_api_token"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The scopes narrowing the user's roles (`tickets:read`, …); NULL: every permission of the roles.
    scopes: Mapped[list | None] = mapped_column(JSONType)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Account(Base):
    """A company or organisation; `parent_id` builds the group hierarchy. Soft-deleted rows keep
    `deleted_at`; merged ones point at the survivor with `merged_into_id`."""

    __tablename__ = "core_account"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(300))
    name_kana: Mapped[str | None] = mapped_column(String(300))
    # Company name reduced for matching: NFKC, lower case, legal forms (株式会社, Inc.) removed.
    match_name: Mapped[str] = mapped_column(String(300), index=True)
    domain: Mapped[str | None] = mapped_column(String(255), index=True)
    industry: Mapped[str | None] = mapped_column(String(100))
    employee_count: Mapped[int | None] = mapped_column(Integer)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_account.id"), index=True)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"), index=True)
    lifecycle_stage: Mapped[str] = mapped_column(String(40), default="lead")
    custom_fields: Mapped[dict] = mapped_column(JSONType, default=dict)
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_account.id"), index=True)


class SubjectKey(DataKey, Base):
    """A person's data key: their names, emails and phones (and the privacy plugin's records of
    them) are sealed under it. Every contact has one."""

    __tablename__ = "core_subject_key"

    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"), primary_key=True)


class ActivityKey(DataKey, Base):
    """An activity's own data key, its summary and body sealed under it. The activity's and not a
    person's: an activity may concern several people, and erasing one of them must not make it
    unreadable for the others. It is destroyed when nobody else is left whom the activity concerns."""

    __tablename__ = "core_activity_key"

    activity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_activity.id", ondelete="CASCADE"), primary_key=True)


class Contact(Sealable, Base):
    """A person. Names, kana, job title, department, postal address and custom fields are sealed (`Sealed`); what
    SQL needs is kept beside them: sort prefixes (two kana of the reading for 五十音 order, the
    family name's initial), blind indexes of the full name (duplicates), job title and department
    (filters), and HMAC'd search tokens and custom-field terms (`ContactSearchToken`)."""

    __tablename__ = "core_contact"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    sealed_family_name: Mapped[bytes | None] = mapped_column(LargeBinary)
    sealed_given_name: Mapped[bytes | None] = mapped_column(LargeBinary)
    sealed_family_name_kana: Mapped[bytes | None] = mapped_column(LargeBinary)
    sealed_given_name_kana: Mapped[bytes | None] = mapped_column(LargeBinary)
    kana_sort: Mapped[str] = mapped_column(String(2), default="")
    name_sort: Mapped[str] = mapped_column(String(1), default="")
    name_index: Mapped[str | None] = mapped_column(String(64), index=True)
    sealed_job_title: Mapped[bytes | None] = mapped_column(LargeBinary)
    sealed_department: Mapped[bytes | None] = mapped_column(LargeBinary)
    job_title_index: Mapped[str | None] = mapped_column(String(64), index=True)
    department_index: Mapped[str | None] = mapped_column(String(64), index=True)
    sealed_postal_code: Mapped[bytes | None] = mapped_column(LargeBinary)
    sealed_address: Mapped[bytes | None] = mapped_column(LargeBinary)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"), index=True)
    sealed_custom_fields: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_contact.id"), index=True)

    family_name = Sealed()
    given_name = Sealed()
    family_name_kana = Sealed()
    given_name_kana = Sealed()
    job_title = Sealed(index=search_key)
    department = Sealed(index=search_key)
    postal_code = Sealed()
    address = Sealed()
    custom_fields = Sealed(json=True)  # None when there are none

    @property
    def subject_id(self) -> uuid.UUID:
        return self.id


class ContactEmail(Sealable, Base):
    """One of a contact's email addresses: sealed under the contact's key, found by `address_index`
    (`blind_indexes(normalize_email(address))`)."""

    __tablename__ = "core_contact_email"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"), index=True)
    sealed_address: Mapped[bytes] = mapped_column(LargeBinary)
    # Blind index of the normalised address: exact lookups and duplicates without the address.
    address_index: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[str | None] = mapped_column(String(40))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)

    address = Sealed(index=normalize_email)


class ContactPhone(Sealable, Base):
    """One of a contact's phone numbers (E.164), sealed under the contact's key, found by `e164_index`."""

    __tablename__ = "core_contact_phone"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"), index=True)
    sealed_e164: Mapped[bytes] = mapped_column(LargeBinary)
    e164_index: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[str | None] = mapped_column(String(40))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)

    e164 = Sealed(index=str)  # E.164 is its own normal form


owns_key(Contact, SubjectKey)  # every contact has one
shares_key(ContactEmail, "contact_id", SubjectKey, "contact_id")
shares_key(ContactPhone, "contact_id", SubjectKey, "contact_id")


class ContactSearchToken(Base):
    """What a person can be found by: HMACs of the bigrams of their names (both orders), kana,
    emails and phone digits (a search asks for the contacts holding every token of its text), and
    of their custom fields' terms, keyed apart (`custom_field_terms`: the `customField` filters)."""

    __tablename__ = "core_contact_search_token"
    # Clustered on the primary key on SQLite (no rowid B-tree beside it): a third smaller, faster to fill.
    __table_args__ = (Index("ix_core_contact_search_token_token", "token", "contact_id"), {"sqlite_with_rowid": False})

    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"), primary_key=True)
    token: Mapped[str] = mapped_column(String(16), primary_key=True)


class ContactCustomDateIndex(Base):
    """The month-day of each of a contact's date custom fields (keys defined with type `date`), as
    a blind index (`blind_index("<key>|MM-DD")`, keyed by the KEK): what a yearly date trigger (a
    birthday greeting) finds people by without opening anyone's sealed custom fields. It tells a
    reader holding the database alone which people share a month-day, and one holding the KEK too
    the month-day (no year): written wherever the custom fields are (`write_date_indexes`),
    deleted by erasure and with the field's definition."""

    __tablename__ = "core_contact_custom_date_index"
    __table_args__ = (Index("ix_core_contact_custom_date_index_field_md", "field", "md_index"),)

    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"), primary_key=True)
    field: Mapped[str] = mapped_column(String(60), primary_key=True)
    md_index: Mapped[str] = mapped_column(String(64))


class ContactAccount(Base):
    """Links a contact to an account; at most one link per contact `is_primary`."""

    __tablename__ = "core_contact_account"
    __table_args__ = (UniqueConstraint("contact_id", "account_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_account.id", ondelete="CASCADE"), index=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)


class Purchase(Base):
    """One purchase (an order) by a contact and/or an account: the one record of it that loyalty,
    insights and any shop integration share (`record_purchase`). Money is an integer count of the
    currency's minor unit. `items` (optional) are `{category, amount, sku, quantity}`. A refund
    is of the whole order and only dated: the row stays, for the books. Erasing the person
    unlinks the purchase (`contact_id` NULL), which stays counted in totals but no longer names
    anyone."""

    __tablename__ = "core_purchase"
    __table_args__ = (
        UniqueConstraint("channel", "order_ref"),
        CheckConstraint("amount >= 0", name="amount"),
        Index("ix_core_purchase_contact_purchased", "contact_id", "purchased_at"),
        Index("ix_core_purchase_account_purchased", "account_id", "purchased_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_contact.id", ondelete="SET NULL"))
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_account.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(40))
    order_ref: Mapped[str | None] = mapped_column(String(200))  # the shop's order number, unique per channel
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    items: Mapped[list] = mapped_column(JSONType, default=list)
    purchased_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    refunded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Activity(Sealable, Base):
    """One interaction on the shared timeline. Ordered by `occurred_at` (back-dating is normal:
    a call logged the next morning), never by insertion. Its free text (which may name anyone) is
    sealed under the activity's own key: erasing the people it concerns destroys the key and the
    entry stays in the log, unreadable."""

    __tablename__ = "core_activity"
    __table_args__ = (
        CheckConstraint("direction IN ('inbound', 'outbound', 'internal')", name="direction"),
        Index("ix_core_activity_occurred", "occurred_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(60), index=True)
    channel: Mapped[str | None] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(10), default="internal")
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"), index=True)
    sealed_summary: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    source_plugin: Mapped[str] = mapped_column(String(60), default="core")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    summary = Sealed()
    body = Sealed()

    @classmethod
    def subjects_of(cls, ids):
        return select(ActivityTarget.contact_id).where(
            ActivityTarget.activity_id.in_(ids), ActivityTarget.contact_id.is_not(None)
        )


owns_key(Activity, ActivityKey)


class ActivityTarget(Base):
    """An activity concerns several contacts and accounts; exactly one of the two is set per row."""

    __tablename__ = "core_activity_target"
    __table_args__ = (
        CheckConstraint("(contact_id IS NULL) <> (account_id IS NULL)", name="one_target"),
        Index("ix_core_activity_target_contact", "contact_id", "activity_id"),
        Index("ix_core_activity_target_account", "account_id", "activity_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    activity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_activity.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"))
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_account.id", ondelete="CASCADE"))


class TaskKey(DataKey, Base):
    """A task's own data key, its title sealed under it. The task's and not a person's: a task may
    be about an account, and a contact's tasks move with a merge."""

    __tablename__ = "core_task_key"

    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_task.id", ondelete="CASCADE"), primary_key=True)


class Task(Sealable, Base):
    """A next action. Its title (which often names someone: "call 山田様 back") is sealed."""

    __tablename__ = "core_task"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'done', 'canceled')", name="status"),
        Index("ix_core_task_open_due", "status", "due_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    sealed_title: Mapped[bytes] = mapped_column(LargeBinary)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="open")
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"), index=True)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    title = Sealed()


owns_key(Task, TaskKey)


class OutboxEvent(Base):
    """Every domain event, written in the transaction that caused it, for delivery after commit."""

    __tablename__ = "core_outbox"
    __table_args__ = (Index("ix_core_outbox_pending", "delivered_at", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=new_id)
    type: Mapped[str] = mapped_column(String(100), index=True)
    entity: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    payload: Mapped[dict] = mapped_column(JSONType, default=dict)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A worker delivering the event holds it until then; after a failure, the next try waits until then.
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class TestClock(Base):
    """The server-wide test clock (outside production mode only): while it exists, every rule
    reads its frozen time as "now". At most one: every row takes slot 1."""

    __tablename__ = "core_test_clock"
    __table_args__ = (CheckConstraint("slot = 1", name="one_clock"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    slot: Mapped[int] = mapped_column(Integer, unique=True, default=1)
    name: Mapped[str | None] = mapped_column(String(200))
    frozen_time: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="ready")  # ready | advancing | internal_failure
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Deployment(Base):
    """The configuration every process on this database must have, as digests by part (plugins,
    keys, settings; core/deployment.py). At most one: every row takes slot 1."""

    __tablename__ = "core_deployment"
    __table_args__ = (CheckConstraint("slot = 1", name="one_deployment"),)

    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fingerprint: Mapped[dict] = mapped_column(JSONType, info={"personal": False})
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class JobRun(Base):
    """When each scheduled job last started and finished; claiming a run is one conditional
    UPDATE taking a lease, so two workers never run the same job at once."""

    __tablename__ = "core_job_run"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Set while a worker runs the job, renewed by it (core/worker.py); once past, that worker died.
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class ImportKey(DataKey, Base):
    """An import's data key: the cells of its refused rows (for the error report) are sealed under it."""

    __tablename__ = "core_import_key"

    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_import.id", ondelete="CASCADE"), primary_key=True)


class ImportJob(Sealable, Base):
    """A contact import, processed in batches. Each batch commits its rows together with the new
    `processed_rows`, so a crash loses nothing and the next run starts where the last one stopped.
    The uploaded file is kept sealed in pieces (`ImportChunk`; `source` only holds the clear file
    of imports queued before that) and wiped when the import ends; `options` are how it is read
    (format, sheet, mapping, ignored columns, overwrite) and its header."""

    __tablename__ = "core_import"
    __table_args__ = (CheckConstraint("status IN ('queued', 'running', 'completed', 'failed')", name="status"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(20), default="contacts")
    status: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    filename: Mapped[str | None] = mapped_column(String(300))
    encoding: Mapped[str] = mapped_column(String(20))
    source: Mapped[bytes | None] = mapped_column(LargeBinary)
    options: Mapped[dict] = mapped_column(JSONType, default=dict)
    total_rows: Mapped[int] = mapped_column(Integer)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, default=0)
    merged_count: Mapped[int] = mapped_column(Integer, default=0)
    # Rows that matched a contact already there and changed nothing.
    duplicate_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    # Row number, column and code only: never the values, which are personal data.
    errors: Mapped[list] = mapped_column(JSONType, default=list)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def subject_id(self) -> uuid.UUID | None:
        return None


owns_key(ImportJob, ImportKey)


class ImportRow(Sealable, Base):
    """What an import did with one row of its file: `action` created, updated, merged (into the
    contact an earlier row of the file created: `merged_into_row`), unchanged or rejected;
    `problems` its column codes (why it was rejected, conflicts, notes). `note_key` is a blind
    index of the dated note the row wrote (contact, date, text), so importing the same row again
    writes no second note. A rejected row keeps its cells, sealed, for the error report."""

    __tablename__ = "core_import_row"
    __table_args__ = (UniqueConstraint("import_id", "row_number"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_import.id", ondelete="CASCADE"), index=True)
    row_number: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(10))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_contact.id", ondelete="SET NULL"), index=True)
    merged_into_row: Mapped[int | None] = mapped_column(Integer)
    problems: Mapped[list] = mapped_column(JSONType, default=list, info={"personal": False})  # column names and codes
    note_key: Mapped[str | None] = mapped_column(String(64), index=True)
    sealed_cells: Mapped[bytes | None] = mapped_column(LargeBinary)

    cells = Sealed(json=True)


shares_key(ImportRow, "import_id", ImportKey, "import_id")


class ImportChunk(Base):
    """A piece of an import's uploaded file, sealed under the import's key (the file holds personal
    data: it never sits in clear, in the database or in a file), read back one piece at a time by
    the runs of the import and deleted when it ends."""

    __tablename__ = "core_import_chunk"

    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_import.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    sealed_data: Mapped[bytes] = mapped_column(LargeBinary)


class ExportLink(Base):
    """A single-use download link of an export (`exportContacts`). The file is never stored: it is
    generated when the link is used, from the request recorded here. Only a SHA-256 of the link's
    token is kept, and the request (its filter may name a person: an email, a search) is sealed
    under a key derived from the token, so nothing in the row is readable without the link; using
    the link wipes it."""

    __tablename__ = "core_export_link"
    __table_args__ = (
        CheckConstraint("kind IN ('contacts', 'accounts', 'activities')", name="kind"),
        CheckConstraint("format IN ('csv', 'xlsx')", name="format"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    format: Mapped[str] = mapped_column(String(10))
    encoding: Mapped[str] = mapped_column(String(20))
    sealed_request: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CustomFieldDefinition(Base):
    """A typed custom field of contacts or accounts (`services/custom_fields.py`): `key` in the
    record's `custom_fields`, its `type` (text, number, integer, date, boolean, choice with
    `options`), labels for frontends, and whether a record must have it. Labels, never values:
    no personal data."""

    __tablename__ = "core_custom_field_definition"
    __table_args__ = (
        UniqueConstraint("entity", "key"),
        CheckConstraint("entity IN ('contact', 'account')", name="entity"),
        CheckConstraint("type IN ('text', 'number', 'integer', 'date', 'boolean', 'choice')", name="type"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    entity: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(60))
    type: Mapped[str] = mapped_column(String(20))
    label_ja: Mapped[str] = mapped_column(String(100))
    label_en: Mapped[str | None] = mapped_column(String(100))
    options: Mapped[list] = mapped_column(JSONType, default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
