"""Contacts: people, with several emails and phones (one primary each) and links to accounts."""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import Table, delete, select

from .. import crypto
from ..crypto import grams
from ..db import insert_rows, new_id
from ..errors import InputError, UserError
from ..events import CONTACT_CREATED, CONTACT_DELETED, CONTACT_DESTROYED, CONTACT_RESTORED, CONTACT_UPDATED
from ..models import (
    Account,
    Contact,
    ContactAccount,
    ContactEmail,
    ContactPhone,
    ContactSearchToken,
    SubjectKey,
)
from ..normalize import InvalidPhoneNumber, is_valid_email, nfkc, normalize_email, normalize_phone, search_key
from ..sealing import Sealed, unrecorded_reads
from ..unit_of_work import UnitOfWork
from . import contact_dates, custom_fields, sensitive
from .common import Checker, changed_fields, check_user, load_for_update, restore, soft_delete

NAME_FIELDS = ("family_name", "given_name", "family_name_kana", "given_name_kana")
# Sealed too, each with a blind index of its own (`Sealed(index=...)`: filters match them whole).
PROFILE_FIELDS = ("job_title", "department")
# Sealed, without an index: nothing filters by them.
ADDRESS_FIELDS = ("postal_code", "address")
MAX_ADDRESS = 500
MAX_EMAILS = MAX_PHONES = 20
MAX_ACCOUNTS = 50
# What makes a live contact a possible duplicate of a person being written, strongest first: one
# of their emails (the importer skips such a row), or one of their phones (weaker: colleagues
# share a switchboard number). Each field is matched by its blind index, normalised as stored.
DUPLICATE_RULE: tuple[tuple[str, type[ContactEmail | ContactPhone], Sealed], ...] = (
    ("email", ContactEmail, ContactEmail.address),
    ("phone", ContactPhone, ContactPhone.e164),
)
MAX_POSSIBLE_DUPLICATES = 20


def contact_search_keys(names: dict, emails: list[str], phones: list[str]) -> list[str]:
    """Every spelling a user may type: names in either order, kana, emails, phone digits."""
    family, given = names.get("family_name") or "", names.get("given_name") or ""
    family_kana, given_kana = names.get("family_name_kana") or "", names.get("given_name_kana") or ""
    parts = [family + given, given + family, family_kana + given_kana, given_kana + family_kana, *emails]
    parts += [phone.lstrip("+") for phone in phones]
    parts += ["0" + phone[3:] for phone in phones if phone.startswith("+81")]
    return list(dict.fromkeys(key for key in map(search_key, parts) if key))


def custom_field_terms(fields: dict | None) -> set[str]:
    """What a contact's sealed custom fields can be filtered by, stored as HMACs beside them: each
    key (`exists`), each string, number or boolean whole (`eq`, `in`; strings in any case or width,
    as job titles) and each string's grams (`contains`, matched as search matches names)."""
    terms = set()
    for key, value in (fields or {}).items():
        terms.add(custom_field_term(key))
        if (whole := custom_field_value(value)) is not None:
            terms.add(custom_field_term(key, "=", whole))
        if isinstance(value, str):
            terms.update(custom_field_term(key, "~", gram) for gram in grams(search_key(value)))
    return terms


def custom_field_term(key: str, kind: str = "", value: str = "") -> str:
    # The key's length first: no key's terms can then be read as another key's.
    return f"{len(key)}:{key}{kind}{value}"


def custom_field_value(value) -> str | None:
    """A scalar as `eq` compares it: 7 and 7.0 alike, strings folded; None for lists, objects, null."""
    if isinstance(value, bool):
        return "b" + str(value).lower()
    if isinstance(value, (int, float)):
        try:
            return "n" + repr(float(value))
        except OverflowError:  # an integer past any float: compared as written
            return "n" + str(value)
    if isinstance(value, str):
        return "s" + search_key(value)
    return None


def contact_tokens(search_keys: list[str], custom_fields: dict | None, hidden: Collection[str] = ()) -> set[str]:
    """A person's rows in `ContactSearchToken`: their search keys' tokens and their custom fields'
    terms, but for the `hidden` (sensitive) keys, which no filter may find anyone by."""
    ring = crypto.installed()
    return ring.search_tokens(search_keys) | ring.term_tokens(custom_field_terms(sensitive.without(custom_fields, hidden)))


def name_columns(names: dict) -> dict:
    """What SQL keeps beside sealed names: sort prefixes and the full name's blind index. The kana
    prefix is two characters (五十音 order needs them; ヤマ is shared by thousands of families);
    the name prefix one (an initial: two kanji are often the whole family name)."""
    full_name = search_key((names.get("family_name") or "") + (names.get("given_name") or ""))
    return {
        "kana_sort": search_key((names.get("family_name_kana") or "") + (names.get("given_name_kana") or ""))[:2],
        "name_sort": search_key(names.get("family_name"))[:1],
        "name_index": crypto.installed().blind_index(full_name) if full_name else None,
    }


def seal_names(contact: Contact, values: dict) -> None:
    """Set the name fields given in `values`, and the columns derived from the names."""
    for field in NAME_FIELDS:
        if field in values:
            setattr(contact, field, values[field])
    for column, value in name_columns(names_of(contact)).items():
        setattr(contact, column, value)


def bulk_contact_rows(contact: dict, names: dict, emails: list[str], phones: list[str]) -> dict:
    """Rows for a bulk insert of one new contact (demo data, benchmarks), parents first: the
    contact's columns in `contact` (job title and department sealed), its names, emails and
    E.164 phones sealed and indexed as the services do it."""
    contact_id = contact["id"]
    data_key, key_row = Contact.new_key_for(contact_id, contact["created_at"])
    sealed = (
        {field: names.get(field) for field in NAME_FIELDS}
        | {field: contact.get(field) for field in PROFILE_FIELDS}
        | {"custom_fields": contact.get("custom_fields") or None}
    )
    row = {k: v for k, v in contact.items() if k not in sealed} | name_columns(names)
    for field, value in sealed.items():
        row |= getattr(Contact, field).columns(data_key, value)
    keys = contact_search_keys(names, [normalize_email(address) for address in emails], phones)
    children = {
        "emails": [{"address": address, "primary": n == 0} for n, address in enumerate(emails)],
        "phones": [{"e164": e164, "primary": n == 0} for n, e164 in enumerate(phones)],
    }
    return {
        Contact: [row],
        SubjectKey: [key_row],
        **child_rows(contact_id, data_key, children),
        ContactSearchToken: [
            {"contact_id": contact_id, "token": token} for token in contact_tokens(keys, sealed["custom_fields"])
        ],
    }


def child_rows(contact_id: uuid.UUID, data_key: bytes, values: dict) -> dict[type, list[dict]]:
    """The lists given in `values` (a new contact's checked emails, phones and account links, each
    item's `primary` set) as rows for a Core insert, by model, sealed under the contact's
    `data_key` as assigning them to ORM rows would (`_add_children`)."""
    rows: dict[type, list[dict]] = {}
    if "emails" in values:
        rows[ContactEmail] = [
            {
                "id": new_id(),
                "contact_id": contact_id,
                **ContactEmail.address.columns(data_key, nfkc(e["address"]).strip()),
                "label": e.get("label"),
                "is_primary": e["primary"],
                "position": n,
            }
            for n, e in enumerate(values["emails"])
        ]
    if "phones" in values:
        rows[ContactPhone] = [
            {
                "id": new_id(),
                "contact_id": contact_id,
                **ContactPhone.e164.columns(data_key, p["e164"]),
                "label": p.get("label"),
                "is_primary": p["primary"],
                "position": n,
            }
            for n, p in enumerate(values["phones"])
        ]
    if "accounts" in values:
        rows[ContactAccount] = [link_row(contact_id, link["account_id"], primary=link["primary"]) for link in values["accounts"]]
    return rows


def link_row(contact_id: uuid.UUID, account_id: uuid.UUID, *, primary: bool) -> dict:
    return {"id": new_id(), "contact_id": contact_id, "account_id": account_id, "is_primary": primary}


def _read_back(rows: dict[type, list[dict]], values: dict) -> dict[type, list[SimpleNamespace]]:
    """`child_rows`' rows as a caller reads them before they are written: their columns, and the
    plaintext of an email's or a phone's sealed field (`address`, `e164`)."""
    plain = {
        ContactEmail: [{"address": nfkc(e["address"]).strip()} for e in values.get("emails", ())],
        ContactPhone: [{"e164": p["e164"]} for p in values.get("phones", ())],
    }
    return {
        model: [SimpleNamespace(**row, **(plain[model][n] if model in plain else {})) for n, row in enumerate(model_rows)]
        for model, model_rows in rows.items()
    }


def names_of(contact: Contact) -> dict:
    return {field: getattr(contact, field) for field in NAME_FIELDS}


def email_row(contact: Contact, address: str, **fields) -> ContactEmail:
    row = ContactEmail(contact_id=contact.id, **fields)
    row.share_key_of(contact)
    row.address = nfkc(address).strip()
    return row


def phone_row(contact: Contact, e164: str, **fields) -> ContactPhone:
    row = ContactPhone(contact_id=contact.id, **fields)
    row.share_key_of(contact)
    row.e164 = e164
    return row


async def write_search_tokens(uow: UnitOfWork, tokens_by_contact: dict, *, new: bool = False) -> None:
    """Store the search tokens of the given contacts (already flushed), replacing what they had
    unless they are `new`. Core executemany: some sixty tiny rows per person need no ORM."""
    connection = await uow.session.connection()
    table: Table = ContactSearchToken.__table__  # type: ignore[assignment]  # typed FromClause by SQLAlchemy; a Table
    if not new:
        await connection.execute(delete(table).where(ContactSearchToken.contact_id.in_(list(tokens_by_contact))))
    rows = [{"contact_id": contact_id, "token": token} for contact_id, tokens in tokens_by_contact.items() for token in tokens]
    await insert_rows(connection, table, rows)


def _primary_first(items: list[dict]) -> list[dict]:
    """Exactly one primary: the one marked, else the first."""
    marked = [i for i, item in enumerate(items) if item.get("primary")]
    chosen = marked[0] if marked else 0
    return [dict(item, primary=(i == chosen)) for i, item in enumerate(items)]


async def _check_contact_input(
    uow: UnitOfWork, data: dict, *, creating: bool, defined: dict[str, custom_fields.FieldRule] | None = None
) -> dict:
    """`defined`: the contact's custom-field definitions, when the caller read them already."""
    check = Checker()
    values: dict = {}
    for field in (*NAME_FIELDS, *PROFILE_FIELDS):
        if field in data:
            text = check.text(data, field, max_length=200)
            values[field] = nfkc(text) if text and field.endswith("_kana") else text
    for field in ADDRESS_FIELDS:
        if field in data:
            values[field] = check.text(data, field, max_length=MAX_ADDRESS)
    if "custom_fields" in data or creating:
        defined = await custom_fields.definitions(uow.session, "contact") if defined is None else defined
        typed = custom_fields.check_values(check, defined, check.custom_fields(data), whole=True)
        if "custom_fields" in data or typed:
            values["custom_fields"] = typed or None
    if "owner_id" in data:
        await check_user(uow, check, data, "owner_id")
        values["owner_id"] = data["owner_id"]
    if "emails" in data:
        emails = data["emails"] or []
        if len(emails) > MAX_EMAILS:
            check.fail("emails", f"at most {MAX_EMAILS}", "TOO_MANY")
        for i, item in enumerate(emails):
            if not is_valid_email(item["address"]):
                check.fail(f"emails.{i}.address", "is not an email address", "INVALID_EMAIL")
        normalized = [normalize_email(e["address"]) for e in emails]
        if len(set(normalized)) != len(normalized):
            check.fail("emails", "lists the same address twice", "DUPLICATE")
        values["emails"] = _primary_first(emails)
    if "phones" in data:
        phones = data["phones"] or []
        if len(phones) > MAX_PHONES:
            check.fail("phones", f"at most {MAX_PHONES}", "TOO_MANY")
        parsed = []
        for i, item in enumerate(phones):
            try:
                parsed.append(dict(item, e164=normalize_phone(item["number"], uow.settings.default_phone_region)))
            except InvalidPhoneNumber:
                check.fail(f"phones.{i}.number", "is not a valid phone number", "INVALID_PHONE")
        values["phones"] = _primary_first(parsed)
    if "accounts" in data:
        links = data["accounts"] or []
        if len(links) > MAX_ACCOUNTS:
            check.fail("accounts", f"at most {MAX_ACCOUNTS}", "TOO_MANY")
        ids = [link["account_id"] for link in links]
        if len(set(ids)) != len(ids):
            check.fail("accounts", "lists the same account twice", "DUPLICATE")
        found = (
            set(
                (await uow.session.execute(select(Account.id).where(Account.id.in_(ids), Account.deleted_at.is_(None)))).scalars()
            )
            if ids
            else set()
        )
        for i, account_id in enumerate(ids):
            if account_id not in found:
                check.fail(f"accounts.{i}.accountId", "no such account", "NOT_FOUND")
        values["accounts"] = _primary_first(links)
    if creating and not any(values.get(f) for f in ("family_name", "given_name", "emails", "phones")):
        check.fail("familyName", "a contact needs a name, an email or a phone", "REQUIRED")
    check.done()
    return values


def _add_children(session, contact: Contact, values: dict) -> dict[str, list]:
    """Add the lists given in `values` (popped from it) as rows of `contact`: the rows added, by
    the name of their list."""
    added: dict[str, list] = {}
    if "emails" in values:
        added["emails"] = [
            email_row(contact, e["address"], label=e.get("label"), is_primary=e["primary"], position=i)
            for i, e in enumerate(values.pop("emails"))
        ]
    if "phones" in values:
        added["phones"] = [
            phone_row(contact, p["e164"], label=p.get("label"), is_primary=p["primary"], position=i)
            for i, p in enumerate(values.pop("phones"))
        ]
    if "accounts" in values:
        added["accounts"] = [
            ContactAccount(contact_id=contact.id, account_id=link["account_id"], is_primary=link["primary"])
            for link in values.pop("accounts")
        ]
    for rows in added.values():
        session.add_all(rows)
    return added


async def _replace_children(uow: UnitOfWork, contact: Contact, values: dict) -> list[str]:
    """Replace the lists given in `values` with the new ones."""
    for key, model in (("emails", ContactEmail), ("phones", ContactPhone), ("accounts", ContactAccount)):
        if key in values:
            await uow.session.execute(delete(model).where(model.contact_id == contact.id))
    changed = list(_add_children(uow.session, contact, values))
    await uow.session.flush()
    return changed


async def _emails_and_phones(session, contact_id: uuid.UUID) -> tuple[list[str], list[str]]:
    """The contact's emails (normalised) and E.164 phones as they stand in the session."""
    emails = [
        normalize_email(row.address)
        for row in (await session.execute(select(ContactEmail).where(ContactEmail.contact_id == contact_id))).scalars()
    ]
    phones = [
        row.e164 for row in (await session.execute(select(ContactPhone).where(ContactPhone.contact_id == contact_id))).scalars()
    ]
    return emails, phones


async def refresh_search_tokens(uow: UnitOfWork, contact: Contact) -> list[str]:
    """Recompute the contact's search tokens and the month-day indexes of their date custom fields
    from what it holds now (and which custom fields are sensitive now); its search keys."""
    emails, phones = await _emails_and_phones(uow.session, contact.id)
    keys = contact_search_keys(names_of(contact), emails, phones)
    hidden = await sensitive.hidden_contact_keys(uow)
    await write_search_tokens(uow, {contact.id: contact_tokens(keys, contact.custom_fields, hidden)})
    dates = contact_dates.month_day_indexes(contact.custom_fields, await contact_dates.date_keys(uow.session), hidden)
    await contact_dates.write_date_indexes(uow, {contact.id: dates})
    return keys


async def reindex_custom_field(uow: UnitOfWork, key: str) -> list[uuid.UUID]:
    """Recompute the filter terms of every live contact holding custom field `key` (found by its
    presence term under any KEK), after it became sensitive: its terms go. Not a read by the
    actor, so the decryption is not recorded as one. The ids of the contacts re-indexed."""
    tokens = set().union(*crypto.installed().query_term_tokens({custom_field_term(key)}))
    holding = select(ContactSearchToken.contact_id).where(ContactSearchToken.token.in_(tokens))
    holders = select(Contact).where(Contact.id.in_(holding), Contact.deleted_at.is_(None)).order_by(Contact.id)
    contacts = list((await uow.session.execute(holders)).scalars())
    with unrecorded_reads():
        for contact in contacts:
            await refresh_search_tokens(uow, contact)
    return [contact.id for contact in contacts]


async def reindex_unmarked_custom_field(uow: UnitOfWork, key: str) -> list[uuid.UUID]:
    """Recompute the filter terms of every live contact holding custom field `key` after it stopped
    being sensitive: it has no terms to find them by, so every live contact with custom fields is
    read (not as a read by the actor). The ids of those holding it, whose terms it now has."""
    candidates = select(Contact).where(Contact.sealed_custom_fields.is_not(None), Contact.deleted_at.is_(None))
    holders = []
    with unrecorded_reads():
        for contact in (await uow.session.execute(candidates.order_by(Contact.id))).scalars():
            if key in (contact.custom_fields or {}):
                await refresh_search_tokens(uow, contact)
                holders.append(contact.id)
    return holders


async def custom_field_holders(uow: UnitOfWork, field: str, marked: bool) -> list[uuid.UUID]:
    """The contacts holding a value in custom field `field` (`custom_fields.<key>`) just marked
    sensitive (`marked`) or unmarked, their filter terms recomputed (`SensitiveCapableField.holders`)."""
    key = field.removeprefix(sensitive.CUSTOM_PREFIX)
    return await (reindex_custom_field(uow, key) if marked else reindex_unmarked_custom_field(uow, key))


@dataclass(frozen=True)
class DuplicateMatch:
    contact_id: uuid.UUID
    matched_on: str  # "email" or "phone": DUPLICATE_RULE's names
    value: str  # which of the values asked about matched, normalised; nothing of the other contact


async def find_possible_duplicates(
    session, emails=(), phones=(), *, exclude: uuid.UUID | None = None, limit: int | None = None
) -> list[DuplicateMatch]:
    """The duplicate rule, for the importer and the contact mutations alike: the live contacts
    (neither deleted, merged away nor erased) holding one of `emails` (any case or width) or
    `phones` (E.164), email matches first, oldest contact first; `limit` per kind. Found by
    blind index under every KEK of the ring, so a key rotation midway misses nothing."""
    ring = crypto.installed()
    matches: list[DuplicateMatch] = []
    for (matched_on, model, field), values in zip(DUPLICATE_RULE, (emails, phones), strict=True):
        assert field.index is not None  # the rule's fields are indexed
        by_index = {index: key for key in {field.index(value) for value in values} if key for index in ring.blind_indexes(key)}
        if not by_index:
            continue
        column = getattr(model, field.index_column)
        query = (
            select(model.contact_id, column)
            .join(Contact, Contact.id == model.contact_id)
            .where(column.in_(list(by_index)), Contact.deleted_at.is_(None))
            .order_by(Contact.created_at, Contact.id)
            .limit(limit)
        )
        if exclude is not None:
            query = query.where(Contact.id != exclude)
        matches += [DuplicateMatch(contact_id, matched_on, by_index[index]) for contact_id, index in await session.execute(query)]
    return matches


async def possible_duplicates_of(uow: UnitOfWork, contact: Contact) -> list[DuplicateMatch]:
    """Other live contacts that may be the same person as `contact`, by its emails and phones as
    just written: each once, by its strongest match, at most MAX_POSSIBLE_DUPLICATES."""
    emails, phones = await _emails_and_phones(uow.session, contact.id)
    strongest: dict[uuid.UUID, DuplicateMatch] = {}
    for match in await find_possible_duplicates(uow.session, emails, phones, exclude=contact.id, limit=MAX_POSSIBLE_DUPLICATES):
        strongest.setdefault(match.contact_id, match)
    return list(strongest.values())[:MAX_POSSIBLE_DUPLICATES]


async def create_contact(uow: UnitOfWork, data: dict) -> Contact:
    """Create a contact from `data` (snake_case, as `createContact` takes it); emits
    `contact.created`. Raises InputError for bad input, having written nothing."""
    new = await NewContacts.reading(uow)
    contact = await new.add(uow, data)
    await new.write(uow)
    return contact


@dataclass
class NewContacts:
    """Contacts created together (an import's chunk): each checked as it is `add`ed (an InputError
    then, and nothing of it is written), then all written by `write` with one flush, their search
    tokens in one statement and their `contact.created` raised together (`uow.emit_many`). Until
    then `unwritten` gives a contact's object and `children` its emails, phones and account links
    (by model), so that a caller need not flush to read them back.

    Only the contacts are ORM objects (a later row of an import reads and updates them, a hook
    gets them from the session). Their keys, emails, phones and account links are rows (`rows`,
    `Sealable.new_key_row`, `child_rows`), inserted with one Core executemany per table after the
    contacts' flush: as objects they were four of a new contact's five, and their construction,
    attribute events and flush bookkeeping the largest share of an import's CPU over its floor."""

    sensitive_fields: frozenset[str]  # as `sensitive.sensitive_fields` names them, read once for them all
    definitions: dict[str, custom_fields.FieldRule]
    unwritten: dict[uuid.UUID, Contact] = dataclasses.field(default_factory=dict)
    children: dict[uuid.UUID, dict[type, list[SimpleNamespace]]] = dataclasses.field(default_factory=dict)
    rows: dict[type, list[dict]] = dataclasses.field(default_factory=dict)  # keys first, then emails, phones, links
    tokens: dict[uuid.UUID, set[str]] = dataclasses.field(default_factory=dict)
    dates: dict[uuid.UUID, dict[str, str]] = dataclasses.field(default_factory=dict)  # the birthday index's rows

    @classmethod
    async def reading(cls, uow: UnitOfWork) -> NewContacts:
        """Ready to add contacts: what sensitive fields and custom-field definitions there are, now."""
        return cls(
            await sensitive.sensitive_fields(uow.runtime.plugins, uow.session, "contact"),
            await custom_fields.definitions(uow.session, "contact"),
        )

    @functools.cached_property
    def hidden_keys(self) -> frozenset[str]:
        """The custom-field keys marked sensitive: neither searchable nor in the date index."""
        return sensitive.custom_keys(self.sensitive_fields)

    @functools.cached_property
    def date_keys(self) -> frozenset[str]:
        """The custom fields defined as dates (their month-days are indexed)."""
        return frozenset(key for key, rule in self.definitions.items() if rule.type == "date")

    async def add(self, uow: UnitOfWork, data: dict) -> Contact:
        """A contact for `data`, checked and added to the session (unflushed, with its id)."""
        values = await _check_contact_input(uow, data, creating=True, defined=self.definitions)
        written = sensitive.custom_fields_written(None, values.get("custom_fields"))
        await sensitive.guard(uow, "contact", None, (), written, self.sensitive_fields)  # no one to hold a basis yet
        now = uow.clock.now()
        contact = Contact(id=new_id(), created_at=now, updated_at=now)
        data_key, key_row = contact.new_key_row(now)  # before anything is sealed under it
        self.rows.setdefault(SubjectKey, []).append(key_row)
        for name, value in values.items():
            if name not in ("emails", "phones", "accounts", *NAME_FIELDS):
                setattr(contact, name, value)
        seal_names(contact, values)
        # The search keys from the input itself: reading back what was just written costs two queries.
        keys = contact_search_keys(
            values,
            [normalize_email(e["address"]) for e in values.get("emails", ())],
            [p["e164"] for p in values.get("phones", ())],
        )
        self.tokens[contact.id] = contact_tokens(keys, values.get("custom_fields"), self.hidden_keys)
        self.dates[contact.id] = contact_dates.month_day_indexes(values.get("custom_fields"), self.date_keys, self.hidden_keys)
        uow.session.add(contact)
        children = child_rows(contact.id, data_key, values)
        for model, rows in children.items():
            self.rows.setdefault(model, []).extend(rows)
        self.children[contact.id] = _read_back(children, values)
        self.unwritten[contact.id] = contact
        return contact

    def forget(self) -> None:
        """Drop what was added since the last `write` (a savepoint holding it was rolled back)."""
        self.unwritten, self.children, self.rows, self.tokens, self.dates = {}, {}, {}, {}, {}

    def link(self, contact: Contact, account_id: uuid.UUID) -> None:
        """Link the unwritten `contact` to its primary account, written with it."""
        link = link_row(contact.id, account_id, primary=True)
        self.rows.setdefault(ContactAccount, []).append(link)
        self.children[contact.id].setdefault(ContactAccount, []).append(SimpleNamespace(**link))

    async def write(self, uow: UnitOfWork) -> None:
        """Write every contact added since the last `write`."""
        if not self.unwritten:
            return
        contacts, rows, tokens, dates = list(self.unwritten), self.rows, self.tokens, self.dates
        self.forget()
        await uow.session.flush()
        connection = await uow.session.connection()
        for model, model_rows in rows.items():
            await insert_rows(connection, model, model_rows)
        await write_search_tokens(uow, tokens, new=True)
        await contact_dates.write_date_indexes(uow, dates, new=True)
        await uow.emit_many(CONTACT_CREATED, [(contact_id, None) for contact_id in contacts])


async def update_contact(uow: UnitOfWork, contact_id: uuid.UUID, data: dict) -> Contact:
    """Change the fields in `data` (snake_case, as `updateContact` takes them; `custom_fields`
    replaces the whole document, checked against the typed definitions; a sensitive field set is
    first put to `enishi_field_write_guard`); emits `contact.updated` with the fields that changed.
    Raises InputError for bad input."""
    contact = await load_for_update(uow, Contact, contact_id)
    values = await _check_contact_input(uow, data, creating=False)
    if "custom_fields" in values:
        await sensitive.guard_custom_fields(
            uow, "contact", contact.id, [contact.id], contact.custom_fields, values["custom_fields"]
        )
    changed = await _replace_children(uow, contact, values)
    changed += changed_fields(contact, values)
    if changed:
        if any(field in changed for field in NAME_FIELDS):
            seal_names(contact, {})
        if not await refresh_search_tokens(uow, contact):
            raise InputError(UserError("familyName", "a contact needs a name, an email or a phone", "REQUIRED"))
        contact.updated_at = uow.clock.now()
        await uow.session.flush()
        await uow.emit(CONTACT_UPDATED, contact.id, {"fields": sorted(changed)})
    return contact


async def delete_contact(uow: UnitOfWork, contact_id: uuid.UUID) -> Contact:
    """Soft-delete a contact (hidden from lists, restorable by an admin); emits `contact.deleted`."""
    return await soft_delete(uow, Contact, contact_id, CONTACT_DELETED)


async def restore_contact(uow: UnitOfWork, contact_id: uuid.UUID) -> Contact:
    return await restore(uow, Contact, contact_id, CONTACT_RESTORED)


async def destroy_contact(uow: UnitOfWork, contact_id: uuid.UUID) -> uuid.UUID:
    """Remove the contact and everything that cascades from it. Plugins hear
    `contact.destroyed` first. Data-subject erasure is the privacy plugin's job, not this."""
    contact = await load_for_update(uow, Contact, contact_id, include_deleted=True)
    await uow.emit(CONTACT_DESTROYED, contact.id)
    await uow.session.execute(Contact.__table__.update().where(Contact.merged_into_id == contact.id).values(merged_into_id=None))  # type: ignore[attr-defined]  # SQLAlchemy types a model's __table__ as a FromClause; it is its Table
    await uow.session.execute(delete(Contact).where(Contact.id == contact.id))
    return contact.id
