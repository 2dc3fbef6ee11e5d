"""Finding contacts by what is sealed: the read side of the search tokens, blind indexes and
custom-field terms that `services.contacts` writes beside the ciphertext.

Each function gives a condition on `Contact.id` (or the contact row) for a statement over
contacts. What a caller may ask (which operators apply to a sealed field, how many values) is
the caller's rule: the GraphQL filters check it before calling here."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, true

from .. import crypto
from ..crypto import query_grams
from ..models import Account, Contact, ContactAccount, ContactEmail, ContactSearchToken
from ..normalize import like_pattern, search_key, search_query_key
from .contacts import custom_field_term


def _holding(per_kek: list[set[str]], *, every: bool = True):
    """Contacts holding every one (or any one) of the tokens (under one KEK of the ring: mid-rotation
    a person's tokens are all under the old KEK or all under the new)."""
    token = ContactSearchToken
    query = select(token.contact_id).where(token.token.in_(set().union(*per_kek)))
    return query.group_by(token.contact_id).having(func.count() == len(per_kek[0])) if every else query


def matching_search(text: str):
    """Contacts whose names (either order), kana, emails or phones hold every token of `text`, or
    who work at a company whose name matches it; any width, hiragana or katakana."""
    key = search_query_key(text)
    if not key:
        return Contact.id.is_not(None)
    pattern = like_pattern(key)
    # Not correlated: the matching companies are found once, not once per contact (a correlated
    # EXISTS made a search over 1M contacts take 11 s on SQLite instead of ~1 s).
    matching_companies = select(Account.id).where(Account.search_text.like(pattern, escape="\\"))
    by_company = Contact.id.in_(select(ContactAccount.contact_id).where(ContactAccount.account_id.in_(matching_companies)))
    return or_(Contact.id.in_(_holding(crypto.installed().query_tokens(key))), by_company)


def _blind_indexes(normalise: Callable[[str], str], values: list[str]) -> list[str]:
    """The blind indexes of whole values, normalised as the index was, under every KEK of the ring:
    ciphertext can only be matched whole."""
    ring = crypto.installed()
    return [index for value in values if (key := normalise(value)) for index in ring.blind_indexes(key)]


def with_email(addresses: list[str] | None, is_null: bool | None):
    """Contacts holding one of `addresses` (whole, any case or width; None asks for none in
    particular), and with or without any address as `is_null` says (None: either)."""
    has_email = exists().where(ContactEmail.contact_id == Contact.id)
    clauses: list[ColumnElement[bool]] = []
    if addresses is not None:
        indexes = _blind_indexes(ContactEmail.address.index, addresses)
        clauses.append(exists().where(ContactEmail.contact_id == Contact.id, ContactEmail.address_index.in_(indexes)))
    if is_null is not None:
        clauses.append(~has_email if is_null else has_email)
    return and_(true(), *clauses)


def with_profile(field: str, values: list[str] | None, is_null: bool | None):
    """Contacts whose sealed profile `field` (`Sealed(index=...)`, e.g. `job_title`) is one of
    `values` (whole, normalised as the index was), and is empty or not as `is_null` says."""
    sealed = getattr(Contact, field)
    index = getattr(Contact, sealed.index_column)
    clauses: list[ColumnElement[bool]] = [] if values is None else [index.in_(_blind_indexes(sealed.index, values))]
    if is_null is not None:
        clauses.append(index.is_(None) if is_null else index.is_not(None))
    return and_(true(), *clauses)


def with_custom_field(key: str, *, exists: bool | None = None, values: list[str] | None = None, contains: str | None = None):
    """Contacts by one key of their sealed custom fields, through the HMAC'd terms stored beside
    them (`custom_field_terms`): holding the key or not (`exists`), holding one of `values` whole
    (as `custom_field_value` gives them), or text containing `contains` as search matches names.
    An HMAC keeps no order: nothing here compares."""
    ring, clauses = crypto.installed(), list[ColumnElement[bool]]()
    if exists is not None:
        present = Contact.id.in_(_holding(ring.query_term_tokens([custom_field_term(key)])))
        clauses.append(present if exists else ~present)
    if values is not None:
        terms = [custom_field_term(key, "=", value) for value in values]
        clauses.append(Contact.id.in_(_holding(ring.query_term_tokens(terms), every=False)) if terms else false())
    if contains is not None:  # blank text is in every text: the key is there
        folded = search_key(contains)
        terms = [custom_field_term(key, "~", gram) for gram in query_grams(folded)] if folded else [custom_field_term(key)]
        clauses.append(Contact.id.in_(_holding(ring.query_term_tokens(terms))))
    return and_(true(), *clauses)
