"""The rows of a contact import matched and written a chunk at a time (`import_chunk`).

Matching, strongest first: the `ID` column (a contact's Enishi id, when it names a live one), an
email (the duplicate rule createContact reports by), a phone (E.164), the full name within the
same company. A matched contact gets what it lacks (empty fields filled, new emails, phones and
custom fields added, linked to the row's company if it has none); a value that differs from a
non-empty one is reported as a `CONFLICT` and kept, unless the import overwrites. A contact an
earlier row of the same file created is "merged": both rows were one person.

A chunk costs a few statements where a row cost a dozen:
- its rows are read and checked first; then everything they can match — contacts by id, email,
  phone and name within company, accounts by name, the contacts this import created — is fetched
  in a few statements (`KnownContacts`), and kept up to date in memory as the chunk's rows write,
  so row 9 still merges into the contact row 3 created, in the order the rows would match one by one;
- the rows write together, the chunk's new contacts with one flush (`NewContacts`), in one
  savepoint (`UnitOfWork.savepoint`); a row the services or a plugin's hook refuse rolls it back,
  and the chunk writes again a row at a time, each in a savepoint of its own: the refused row is
  rejected and leaves nothing behind (no account, no event), the others land;
- the dated notes (`最終対応日` and `メモ`: one note on the contact and its account) are written
  at the end of the chunk with one flush (`log_activities`), their `activity.logged` raised
  together (`enishi_on_events`). A note's blind index (`ImportRow.note_key`) keeps a second import of the same
  row, or the same row twice in one file, from writing it again."""

from __future__ import annotations

import bisect
import datetime as dt
import inspect
import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select

from .. import crypto
from ..errors import InputError
from ..models import Account, Activity, ActivityTarget, Contact, ContactAccount, ContactEmail, ContactPhone, ImportRow
from ..normalize import company_match_name, normalize_email, search_key
from ..unit_of_work import UnitOfWork
from .accounts import create_account, create_accounts
from .activities import log_activities
from .contacts import DUPLICATE_RULE, NewContacts, find_possible_duplicates, update_contact
from .import_columns import CUSTOM_PREFIX
from .import_files import Cell, cell_text
from .import_rows import RowContext, RowRejected, RowValues, _problem, read_row

SUMMARY_LENGTH = 500
NOTE_SUMMARY = "最終対応"  # a dated row without a memo: the note says only that contact was made
PHONE_CANDIDATES = 20  # contacts sharing a phone looked at for one of the row's family name
# A service's field (as its UserError names it) → the import field whose column to report.
_SERVICE_FIELDS = {"familyName": "family_name", "emails": "email", "phones": "phone", "owner_id": "owner"}
_EMAIL_KEY, _PHONE_KEY = (rule_field.index for _, _, rule_field in DUPLICATE_RULE)


def _email_key(address: str) -> str:
    return _EMAIL_KEY(address) or ""  # type: ignore[misc]  # the rule's fields are indexed


def _phone_key(e164: str) -> str:
    return _PHONE_KEY(e164) or ""  # type: ignore[misc]


def _full_name(texts: dict) -> str:
    return search_key((texts.get("family_name") or "") + (texts.get("given_name") or ""))


@dataclass
class KnownContacts:
    """What a chunk's rows can match, fetched for the chunk at once and updated as its rows write.

    Each index lists contacts in the duplicate rule's order (oldest first, then by id), as the
    database would return them; `names` is each contact's full name now (an overwrite may change
    it), `created_rows` the row of this import that created a contact."""

    live: set[uuid.UUID] = field(default_factory=set)
    order: dict[uuid.UUID, tuple[dt.datetime, uuid.UUID]] = field(default_factory=dict)
    by_email: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    by_phone: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    by_name: dict[tuple[str, str], list[uuid.UUID]] = field(default_factory=dict)  # (full name, company match name)
    names: dict[uuid.UUID, str] = field(default_factory=dict)
    created_rows: dict[uuid.UUID, int] = field(default_factory=dict)
    contacts: list[Contact] = field(default_factory=list)  # held: the session's identity map keeps them only weakly

    def know(self, contact: Contact) -> None:
        self.contacts.append(contact)
        self.live.add(contact.id)
        self.order[contact.id] = (contact.created_at, contact.id)
        self.names[contact.id] = search_key((contact.family_name or "") + (contact.given_name or ""))

    def add(self, index: dict, key, contact_id: uuid.UUID) -> None:
        ids = index.setdefault(key, [])
        if contact_id not in ids:
            bisect.insort(ids, contact_id, key=self.order.__getitem__)

    def first(self, index: dict, keys) -> list[uuid.UUID]:
        """The contacts any of `keys` names, in the rule's order."""
        return sorted({c for key in keys for c in index.get(key, ())}, key=self.order.__getitem__)


async def _prefetch(uow: UnitOfWork, context: RowContext, rows: list[RowValues]) -> KnownContacts:
    """Everything the chunk's rows can match, in six statements at most (whatever the chunk's size)."""
    session, known = uow.session, KnownContacts()
    ids = {values.contact_id for values in rows if values.contact_id is not None}
    emails = {address for values in rows for address in values.emails}
    phones = {phone for values in rows for phone in values.phones}
    matches = await find_possible_duplicates(session, emails, phones) if emails or phones else []
    names = {_full_name(values.texts) for values in rows if values.company} - {""}
    companies = {company_match_name(values.company) for values in rows if values.company}
    by_name: list[tuple[uuid.UUID, str, str]] = []
    if names:
        ring = crypto.installed()
        index_of = {index: name for name in names for index in ring.blind_indexes(name)}
        by_name = [
            (contact_id, index_of[name_index or ""], match_name)
            for contact_id, name_index, match_name in await session.execute(
                select(Contact.id, Contact.name_index, Account.match_name)
                .join(ContactAccount, ContactAccount.contact_id == Contact.id)
                .join(Account, Account.id == ContactAccount.account_id)
                .where(
                    Contact.name_index.in_(list(index_of)),
                    Contact.deleted_at.is_(None),
                    Account.match_name.in_(list(companies)),
                    Account.deleted_at.is_(None),
                )
            )
        ]
    candidates = ids | {match.contact_id for match in matches} | {contact_id for contact_id, _, _ in by_name}
    if candidates:
        for contact in (
            await session.execute(select(Contact).where(Contact.id.in_(list(candidates)), Contact.deleted_at.is_(None)))
        ).scalars():
            known.know(contact)
        created = await session.execute(
            select(ImportRow.contact_id, ImportRow.row_number).where(
                ImportRow.import_id == context.job.id,
                ImportRow.action == "created",
                ImportRow.contact_id.in_(list(candidates)),
            )
        )
        known.created_rows = {contact_id: number for contact_id, number in created if contact_id is not None}
    for match in matches:
        known.add(known.by_email if match.matched_on == "email" else known.by_phone, match.value, match.contact_id)
    for contact_id, name, match_name in by_name:
        known.add(known.by_name, (name, match_name), contact_id)
    if missing := companies - context.accounts.keys():
        for match_name, account_id in await session.execute(
            select(Account.match_name, Account.id)
            .where(Account.match_name.in_(list(missing)), Account.deleted_at.is_(None))
            .order_by(Account.created_at.desc(), Account.id.desc())  # the oldest last: it stays
        ):
            context.accounts[match_name] = account_id
    return known


async def _contact(uow: UnitOfWork, new_contacts: NewContacts, contact_id: uuid.UUID) -> Contact:
    """A contact by id; one the chunk created and has not written yet from memory (a query would write it)."""
    unwritten = new_contacts.unwritten.get(contact_id)
    return unwritten if unwritten is not None else await uow.session.get_one(Contact, contact_id)


async def _children(uow: UnitOfWork, new_contacts: NewContacts, model, contact_id: uuid.UUID) -> list:
    """A contact's emails, phones or account links (`model`); an unwritten contact's from memory
    (its rows as `NewContacts` holds them: the same attributes)."""
    unwritten = new_contacts.children.get(contact_id)
    if unwritten is not None:
        return unwritten.get(model, [])
    return list((await uow.session.execute(select(model).where(model.contact_id == contact_id))).scalars())


async def _match(uow: UnitOfWork, known: KnownContacts, new_contacts: NewContacts, values: RowValues) -> Contact | None:
    contact_id = values.contact_id if values.contact_id in known.live else None
    if contact_id is None and values.emails:
        contact_id = next(iter(known.first(known.by_email, map(_email_key, values.emails))), None)
    if contact_id is None and values.phones:
        # Colleagues share a switchboard number: a phone matches only a contact of the same family name (or none).
        family_name = search_key(values.texts.get("family_name"))
        for candidate in known.first(known.by_phone, map(_phone_key, values.phones))[:PHONE_CANDIDATES]:
            if _names_agree(await _contact(uow, new_contacts, candidate), family_name):
                contact_id = candidate
                break
    full_name = _full_name(values.texts)
    if contact_id is None and full_name and values.company:
        contact_id = next(
            (
                candidate
                for candidate in known.first(known.by_name, [(full_name, company_match_name(values.company))])
                if known.names[candidate] == full_name
            ),
            None,
        )
    return await _contact(uow, new_contacts, contact_id) if contact_id is not None else None


def _names_agree(contact: Contact, family_name: str) -> bool:
    theirs = search_key(contact.family_name)
    return not theirs or not family_name or theirs == family_name


async def account_for(uow: UnitOfWork, context: RowContext, company: str) -> uuid.UUID:
    """The live account of that name (any legal form or width), created if there is none (and
    remembered in `context.new_accounts` until the row's, or the chunk's, savepoint holds)."""
    key = company_match_name(company)
    if key not in context.accounts:
        context.accounts[key] = (await create_account(uow, {"name": company})).id
        context.new_accounts.append(key)
    return context.accounts[key]


def _same(current, new) -> bool:
    return search_key(str(current)) == search_key(str(new))


async def _update(
    uow: UnitOfWork, context: RowContext, new_contacts: NewContacts, contact: Contact, values: RowValues
) -> tuple[bool, list[dict]]:
    """Fill what the contact lacks: whether anything changed, and the conflicts (the contact's
    values kept, unless the import overwrites)."""
    data: dict = {}
    conflicts = []

    def fill(current, new, column: str) -> bool:
        if current in (None, "") or (context.overwrite and not _same(current, new)):
            return True
        if not _same(current, new):
            conflicts.append(_problem(column, "CONFLICT"))
        return False

    for name, new in values.texts.items():
        if fill(getattr(contact, name), new, values.column(name)):
            data[name] = new
    if values.owner_id is not None and fill(contact.owner_id, values.owner_id, values.column("owner")):
        data["owner_id"] = values.owner_id
    custom = dict(contact.custom_fields or {})
    for key, new in values.custom.items():
        if fill(custom.get(key), new, values.column(CUSTOM_PREFIX + key)):
            custom[key] = new
    if custom != (contact.custom_fields or {}):
        data["custom_fields"] = custom
    emails = await _children(uow, new_contacts, ContactEmail, contact.id)
    known = {normalize_email(row.address) for row in emails}
    if new_emails := [a for a in values.emails if normalize_email(a) not in known]:
        ordered = sorted(emails, key=lambda row: row.position)
        data["emails"] = [{"address": r.address, "label": r.label, "primary": r.is_primary} for r in ordered]
        data["emails"] += [{"address": a} for a in new_emails]
    phones = await _children(uow, new_contacts, ContactPhone, contact.id)
    if new_phones := [p for p in values.phones if p not in {row.e164 for row in phones}]:
        ordered_phones = sorted(phones, key=lambda row: row.position)
        data["phones"] = [{"number": r.e164, "label": r.label, "primary": r.is_primary} for r in ordered_phones]
        data["phones"] += [{"number": p} for p in new_phones]
    if values.company:
        account_id = await account_for(uow, context, values.company)
        links = await _children(uow, new_contacts, ContactAccount, contact.id)
        if account_id not in {link.account_id for link in links}:
            if links and not context.overwrite:
                conflicts.append(_problem(values.column("company"), "CONFLICT"))
            else:
                data["accounts"] = [{"account_id": link.account_id, "primary": False} for link in links]
                data["accounts"].append({"account_id": account_id, "primary": True})
    if data:
        await new_contacts.write(uow)  # the chunk's new contacts first: their contact.created before this contact.updated
        await update_contact(uow, contact.id, data)
    return bool(data), conflicts


def _reported_column(values: RowValues, field: str | None) -> str:
    """The column a service's refusal (its UserError's field) is reported on: the one the row's
    value for that field came from (a full-name column for the names it filled), else the field."""
    if field and field.startswith("custom_fields."):
        return values.column(CUSTOM_PREFIX + field.removeprefix("custom_fields."))
    head = (field or "").split(".")[0]
    if head in _SERVICE_FIELDS:
        return values.column(_SERVICE_FIELDS[head])
    return values.columns.get(head, field or "file")


async def _create(uow: UnitOfWork, context: RowContext, new_contacts: NewContacts, values: RowValues) -> Contact:
    data: dict = dict(values.texts)
    if values.emails:
        data["emails"] = [{"address": a} for a in values.emails]
    if values.phones:
        data["phones"] = [{"number": p} for p in values.phones]
    if values.owner_id is not None:
        data["owner_id"] = values.owner_id
    if values.custom:
        data["custom_fields"] = values.custom
    contact = await new_contacts.add(uow, data)
    if values.company:
        new_contacts.link(contact, await account_for(uow, context, values.company))
    return contact


@dataclass
class _Written:
    """A row the chunk wrote: its record, contact and values, whether it changed the contact, and
    the conflicts it found (kept apart from `values`, which a chunk written again reads afresh)."""

    row: ImportRow
    contact: Contact
    values: RowValues
    changed: bool
    conflicts: list[dict]


async def _upsert(
    uow: UnitOfWork, context: RowContext, known: KnownContacts, new_contacts: NewContacts, row: ImportRow, values: RowValues
) -> _Written:
    """Write one row: match, create (in `new_contacts`, written later) or update, the plugins' columns."""
    contact = await _match(uow, known, new_contacts, values)
    changed, conflicts = True, list[dict]()
    if contact is None:
        contact, row.action = await _create(uow, context, new_contacts, values), "created"
    else:
        changed, conflicts = await _update(uow, context, new_contacts, contact, values)
        row.merged_into_row = known.created_rows.get(contact.id)
        row.action = "merged" if row.merged_into_row is not None else "updated"
    if values.plugin_values:
        await new_contacts.write(uow)  # a plugin's rows may name the contact: it exists first
    for column, value in values.plugin_values:
        applied = column.plugin.apply(uow, contact.id, value)  # type: ignore[union-attr,misc]  # importable plugin columns only
        changed = bool(await applied if inspect.isawaitable(applied) else applied) or changed
    return _Written(row, contact, values, changed, conflicts)


def _remember(known: KnownContacts, written: _Written) -> None:
    """Index what a row wrote, so the chunk's later rows match it as they would have found it."""
    contact, values = written.contact, written.values
    if written.row.action == "created":
        known.know(contact)
        known.created_rows[contact.id] = written.row.row_number
    known.names[contact.id] = _full_name({"family_name": contact.family_name, "given_name": contact.given_name})
    for address in values.emails:
        known.add(known.by_email, _email_key(address), contact.id)
    for phone in values.phones:
        known.add(known.by_phone, _phone_key(phone), contact.id)
    if values.company and _problem(values.column("company"), "CONFLICT") not in written.conflicts:  # linked to it now
        known.add(known.by_name, (known.names[contact.id], company_match_name(values.company)), contact.id)


async def _write_rows(
    uow: UnitOfWork, context: RowContext, read: list[tuple[ImportRow, list[Cell], RowValues]], *, row_by_row: bool
) -> list[_Written]:
    """Match and write the chunk's checked rows, in order, the new contacts with one flush at the
    end (`NewContacts`). `row_by_row`: each row in a savepoint of its own, a refused one rejected
    (its account, events and writes undone); else the first refusal raises its InputError, and
    `context.new_accounts` holds the accounts the chunk had created."""
    known = await _prefetch(uow, context, [values for _, _, values in read])
    new_contacts = await NewContacts.reading(uow)
    written: list[_Written] = []
    context.new_accounts = []
    if not row_by_row:  # every row writes: each company its account, all created at once
        await _create_accounts(uow, context, [values.company for _, _, values in read if values.company])
    for row, cells, values in read:
        if not row_by_row:
            done = await _upsert(uow, context, known, new_contacts, row, values)
        else:
            context.new_accounts = []
            try:
                async with uow.savepoint():
                    done = await _upsert(uow, context, known, new_contacts, row, values)
                    await new_contacts.write(uow)
            except InputError as error:
                _forget_new_accounts(context)
                new_contacts.forget()
                _rejected(row, cells, [_problem(_reported_column(values, e.field), e.code) for e in error.errors])
                continue
        _remember(known, done)
        written.append(done)
    await new_contacts.write(uow)
    return written


async def _create_accounts(uow: UnitOfWork, context: RowContext, companies: list[str]) -> None:
    """The companies no account has yet, each created under its first spelling, with one flush."""
    missing: dict[str, str] = {}
    for company in companies:
        if (key := company_match_name(company)) not in context.accounts:
            missing.setdefault(key, company)
    if missing:
        for key, account in zip(missing, await create_accounts(uow, [{"name": name} for name in missing.values()]), strict=True):
            context.accounts[key] = account.id
            context.new_accounts.append(key)


def _forget_new_accounts(context: RowContext) -> None:
    for key in context.new_accounts:  # rolled back with the row (or the chunk)
        del context.accounts[key]


async def import_chunk(uow: UnitOfWork, context: RowContext, batch: list[tuple[int, list[Cell]]]) -> list[ImportRow]:
    """Import a chunk of non-blank rows; the records of what each did (added to the session).

    The chunk's rows are written together, in one savepoint; should the services or a plugin's
    hook refuse one (rare: the cells were checked first), that savepoint is rolled back and the
    chunk written again a row at a time, each row in a savepoint of its own, so that the refused
    row alone is rejected and leaves nothing behind."""
    job, rows, read = context.job, [], []
    for number, cells in batch:
        row = ImportRow(import_id=job.id, row_number=number, problems=[])
        row.share_key_of(job)
        rows.append(row)
        try:
            read.append((row, cells, await read_row(uow, context, cells)))
        except RowRejected as rejected:
            _rejected(row, cells, rejected.problems)
    try:
        async with uow.savepoint():
            written = await _write_rows(uow, context, read, row_by_row=False)
    except InputError:
        _forget_new_accounts(context)
        written = await _write_rows(uow, context, read, row_by_row=True)
    await _write_notes(uow, context, written)
    for done in written:
        done.row.contact_id, done.row.problems = done.contact.id, done.values.notes + done.conflicts
        if done.row.action == "updated" and not (done.changed or done.row.note_key):
            done.row.action = "unchanged"
    uow.session.add_all(rows)
    return rows


def _note_key(contact_id: uuid.UUID, values: RowValues) -> str:
    return f"note|{contact_id}|{values.last_contacted or ''}|{values.memo or ''}"


def _day_start(uow: UnitOfWork, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), uow.settings.zone).astimezone(dt.UTC)


async def _write_notes(uow: UnitOfWork, context: RowContext, written: list[_Written]) -> None:
    """Each row's dated note, unless an import already wrote it (its blind index) or the row is a
    bare date the contact's timeline already reaches (an export's 最終対応日 coming back), in the
    order of the rows: a note of row 3 counts for row 9."""
    noting = [done for done in written if done.values.last_contacted is not None or done.values.memo]
    if not noting:
        return
    ring = crypto.installed()
    keys = {done.row.row_number: _note_key(done.contact.id, done.values) for done in noting}
    indexes = {index: key for key in keys.values() for index in ring.blind_indexes(key)}
    written_keys = {
        indexes[index]
        for index in (
            await uow.session.execute(select(ImportRow.note_key).where(ImportRow.note_key.in_(list(indexes))))
        ).scalars()
        if index is not None
    }
    bare = {done.contact.id for done in noting if not done.values.memo}
    latest: dict[uuid.UUID, dt.datetime] = {}
    if bare:
        reached = await uow.session.execute(
            select(ActivityTarget.contact_id, func.max(Activity.occurred_at))
            .join(Activity, Activity.id == ActivityTarget.activity_id)
            .where(ActivityTarget.contact_id.in_(list(bare)))
            .group_by(ActivityTarget.contact_id)
        )
        latest = {contact_id: last for contact_id, last in reached if contact_id is not None}
    notes: list[tuple[_Written, dict]] = []
    for done in noting:
        key, values = keys[done.row.row_number], done.values
        occurred_at = _day_start(uow, values.last_contacted) if values.last_contacted is not None else uow.clock.now()
        contacted = latest.get(done.contact.id)
        if key in written_keys or (not values.memo and contacted is not None and contacted >= occurred_at):
            continue
        written_keys.add(key)
        latest[done.contact.id] = max(occurred_at, contacted or occurred_at)
        memo = values.memo or NOTE_SUMMARY
        first_line = memo.splitlines()[0] if memo.strip() else NOTE_SUMMARY
        account_ids = [await account_for(uow, context, values.company)] if values.company else []
        notes.append(
            (
                done,
                {
                    "type": "note",
                    "summary": first_line[:SUMMARY_LENGTH],
                    "body": memo if memo != first_line[:SUMMARY_LENGTH] else None,
                    "occurred_at": occurred_at,
                    "contact_ids": [done.contact.id],
                    "account_ids": account_ids,
                },
            )
        )
    await log_activities(uow, [data for _, data in notes])
    for done, _ in notes:
        done.row.note_key = ring.blind_index(keys[done.row.row_number])


def _rejected(row: ImportRow, cells: list[Cell], problems: list[dict]) -> None:
    row.action, row.problems, row.merged_into_row = "rejected", problems, None
    row.cells = [cell_text(cell) for cell in cells]
