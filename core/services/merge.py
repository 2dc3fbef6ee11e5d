"""Finding duplicates and merging them into a survivor.

A merge moves the merged records' timeline, tasks, links and plugin data (through the
`enishi_merge` hook) to the survivor, fills the survivor's empty fields, and soft-deletes the
merged records with `merged_into_id` pointing at the survivor. A dry run reports the same moves
and writes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, select, update

from ..contributions import MergeMove
from ..errors import InputError, UserError
from ..events import ACCOUNT_MERGED, CONTACT_MERGED
from ..models import Account, ActivityTarget, Contact, ContactAccount, ContactEmail, ContactPhone, Purchase, Task
from ..unit_of_work import UnitOfWork
from . import sensitive
from .accounts import account_search_text
from .common import record_kind
from .contacts import NAME_FIELDS, refresh_search_tokens, seal_names
from .purchases import move_purchases

MAX_MERGED = 20


@dataclass(frozen=True)
class DuplicateGroup:
    reason: str  # email | phone | name | company_name | domain
    ids: list[uuid.UUID]


@dataclass
class MergeResult:
    survivor: Contact | Account
    merged_ids: list[uuid.UUID]
    moves: list[MergeMove]
    dry_run: bool


async def _lock_parties(uow: UnitOfWork, model, survivor_id: uuid.UUID, merged_ids: list[uuid.UUID]):
    merged_ids = list(dict.fromkeys(merged_ids))
    if not merged_ids:
        raise InputError(UserError("mergedIds", "name at least one record to merge", "REQUIRED"))
    if len(merged_ids) > MAX_MERGED:
        raise InputError(UserError("mergedIds", f"at most {MAX_MERGED} records at once", "TOO_MANY"))
    if survivor_id in merged_ids:
        raise InputError(UserError("mergedIds", "must not contain the survivor", "SURVIVOR_IN_MERGED"))
    ids = [survivor_id, *merged_ids]
    # Lock in id order so two opposite merges cannot deadlock on PostgreSQL.
    rows = (
        (await uow.session.execute(select(model).where(model.id.in_(ids)).order_by(model.id).with_for_update())).scalars().all()
    )
    by_id = {row.id: row for row in rows}
    errors = []
    for field, record_id in [("survivorId", survivor_id), *(("mergedIds", m) for m in merged_ids)]:
        row = by_id.get(record_id)
        if row is None:
            errors.append(UserError(field, f"no such {record_kind(model)}", "NOT_FOUND"))
        elif row.merged_into_id is not None:
            errors.append(UserError(field, "was already merged", "ALREADY_MERGED"))
        elif row.deleted_at is not None:
            errors.append(UserError(field, "is deleted", "DELETED"))
    if errors:
        raise InputError(errors)
    return by_id[survivor_id], [by_id[m] for m in merged_ids]


async def _count(uow: UnitOfWork, column, ids) -> int:
    return (await uow.session.execute(select(func.count()).where(column.in_(ids)))).scalar_one()


async def _move_links(uow: UnitOfWork, model, owner_col: str, other_col: str, survivor_id, merged_ids, dry_run: bool) -> int:
    """Re-point link rows (owner → other) from merged owners to the survivor, dropping those the
    survivor already has (a contact linked to one account twice would break uniqueness). One
    merged record at a time, so two merged records sharing a link leave one copy, not two."""
    owner, other = getattr(model, owner_col), getattr(model, other_col)
    already = select(other).where(owner == survivor_id)
    if dry_run:
        return (
            await uow.session.execute(
                select(func.count(func.distinct(other))).where(owner.in_(merged_ids), other.not_in(already))
            )
        ).scalar_one()
    moved = 0
    for merged_id in merged_ids:
        moving = and_(owner == merged_id, other.not_in(already))
        moved += (
            await uow.session.execute(
                update(model).where(moving).values({owner_col: survivor_id}).execution_options(synchronize_session=False)
            )
        ).rowcount  # type: ignore[attr-defined]  # SQLAlchemy types a DML statement's result as Result, not CursorResult
        await uow.session.execute(delete(model).where(owner == merged_id).execution_options(synchronize_session=False))
    return moved


async def _move_sealed(uow: UnitOfWork, model, field: str, survivor: Contact, merged_ids, dry_run: bool) -> int:
    """Move emails or phones to the survivor, dropping those it already has (by the field's blind
    index). They are sealed under their person's key, so each moves as a new row sealed under the
    survivor's."""
    index_name = getattr(model, field).index_column
    index = getattr(model, index_name)
    already = select(index).where(model.contact_id == survivor.id)
    if dry_run:
        return (
            await uow.session.execute(
                select(func.count(func.distinct(index))).where(model.contact_id.in_(merged_ids), index.not_in(already))
            )
        ).scalar_one()
    have = set((await uow.session.execute(already)).scalars())
    rows = (await uow.session.execute(select(model).where(model.contact_id.in_(merged_ids)))).scalars().all()
    moved = 0
    for row in sorted(rows, key=lambda r: (merged_ids.index(r.contact_id), r.position)):
        if getattr(row, index_name) not in have:
            have.add(getattr(row, index_name))
            copy = model(contact_id=survivor.id, label=row.label, is_primary=row.is_primary, position=row.position)
            copy.share_key_of(survivor)
            setattr(copy, field, getattr(row, field))
            uow.session.add(copy)
            moved += 1
        await uow.session.delete(row)
    await uow.session.flush()
    return moved


def _merged_custom_fields(survivor, merged) -> dict:
    """The survivor's custom fields after the merge: its own, then each other's it lacks, in order."""
    custom_fields = dict(survivor.custom_fields or {})
    for other in merged:
        custom_fields = {**(other.custom_fields or {}), **custom_fields}
    return custom_fields


def _fill_blanks(survivor, merged, fields) -> None:
    for other in merged:
        for name in fields:
            if getattr(survivor, name) in (None, "") and getattr(other, name) not in (None, ""):
                setattr(survivor, name, getattr(other, name))
    custom_fields = _merged_custom_fields(survivor, merged)
    if custom_fields != (survivor.custom_fields or {}):  # a contact's are sealed: not re-sealed for nothing
        survivor.custom_fields = custom_fields


_MERGED_EVENT = {"contact": CONTACT_MERGED, "account": ACCOUNT_MERGED}


async def _finish(uow: UnitOfWork, entity: str, survivor, merged, moves: list[MergeMove], dry_run: bool) -> MergeResult:
    merged_ids = [m.id for m in merged]
    for _, plugin_moves in await uow.runtime.plugins.call(
        "enishi_merge", uow=uow, entity=entity, survivor_id=survivor.id, merged_ids=merged_ids, dry_run=dry_run
    ):
        moves.extend(plugin_moves or [])
    if not dry_run:
        now = uow.clock.now()
        for other in merged:
            other.deleted_at = other.updated_at = now
            other.merged_into_id = survivor.id
        survivor.updated_at = now
        await uow.session.flush()
        await uow.emit(_MERGED_EVENT[entity], survivor.id, {"merged_ids": [str(m) for m in merged_ids]})
    return MergeResult(survivor, merged_ids, moves, dry_run)


async def merge_contacts(
    uow: UnitOfWork, survivor_id: uuid.UUID, merged_ids: list[uuid.UUID], *, dry_run: bool = False
) -> MergeResult:
    survivor, merged = await _lock_parties(uow, Contact, survivor_id, merged_ids)
    ids = [m.id for m in merged]
    # A sensitive value the survivor lacks is written to it by the merge: the guard decides, for
    # the survivor (a basis recorded for the merged person does not cover someone else), dry run too.
    await sensitive.guard_custom_fields(
        uow, "contact", survivor.id, [survivor.id], survivor.custom_fields, _merged_custom_fields(survivor, merged)
    )
    moves = [
        MergeMove(
            "core",
            "activity_target",
            await _move_links(uow, ActivityTarget, "contact_id", "activity_id", survivor.id, ids, dry_run),
        ),
        MergeMove(
            "core",
            "contact_account",
            await _move_links(uow, ContactAccount, "contact_id", "account_id", survivor.id, ids, dry_run),
        ),
        MergeMove("core", "contact_email", await _move_sealed(uow, ContactEmail, "address", survivor, ids, dry_run)),
        MergeMove("core", "contact_phone", await _move_sealed(uow, ContactPhone, "e164", survivor, ids, dry_run)),
        MergeMove("core", "task", await _count(uow, Task.contact_id, ids)),
        MergeMove("core", "purchase", await move_purchases(uow, Purchase.contact_id, survivor.id, ids, dry_run)),
    ]
    if not dry_run:
        await uow.session.execute(update(Task).where(Task.contact_id.in_(ids)).values(contact_id=survivor.id))
        # Keep exactly one primary email and phone after the move.
        for model in (ContactEmail, ContactPhone):
            rows = (
                (
                    await uow.session.execute(
                        select(model).where(model.contact_id == survivor.id).order_by(model.is_primary.desc(), model.position)
                    )
                )
                .scalars()
                .all()
            )
            for position, row in enumerate(rows):
                row.is_primary, row.position = position == 0, position  # type: ignore[attr-defined]  # select() of either model is typed as their base
        _fill_blanks(survivor, merged, (*NAME_FIELDS, "job_title", "department", "owner_id"))
        seal_names(survivor, {})
        await uow.session.flush()
        await refresh_search_tokens(uow, survivor)
    return await _finish(uow, "contact", survivor, merged, moves, dry_run)


async def merge_accounts(
    uow: UnitOfWork, survivor_id: uuid.UUID, merged_ids: list[uuid.UUID], *, dry_run: bool = False
) -> MergeResult:
    survivor, merged = await _lock_parties(uow, Account, survivor_id, merged_ids)
    ids = [m.id for m in merged]
    moves = [
        MergeMove(
            "core",
            "activity_target",
            await _move_links(uow, ActivityTarget, "account_id", "activity_id", survivor.id, ids, dry_run),
        ),
        MergeMove(
            "core",
            "contact_account",
            await _move_links(uow, ContactAccount, "account_id", "contact_id", survivor.id, ids, dry_run),
        ),
        MergeMove("core", "task", await _count(uow, Task.account_id, ids)),
        MergeMove("core", "child_account", await _count(uow, Account.parent_id, ids)),
        MergeMove("core", "purchase", await move_purchases(uow, Purchase.account_id, survivor.id, ids, dry_run)),
    ]
    if not dry_run:
        await uow.session.execute(update(Task).where(Task.account_id.in_(ids)).values(account_id=survivor.id))
        await uow.session.execute(
            update(Account)
            .where(Account.parent_id.in_(ids), Account.id != survivor.id)
            .values(parent_id=survivor.id)
            .execution_options(synchronize_session=False)
        )
        if survivor.parent_id in ids:
            survivor.parent_id = None
        _fill_blanks(survivor, merged, ("name_kana", "domain", "industry", "employee_count", "owner_id"))
        survivor.search_text = account_search_text(survivor)
    return await _finish(uow, "account", survivor, merged, moves, dry_run)


async def contact_duplicates(session, limit: int = 100) -> list[DuplicateGroup]:
    """Live contacts sharing a normalised email, an E.164 phone, or a full name (any spelling),
    found by their blind indexes."""
    live = select(Contact.id).where(Contact.deleted_at.is_(None))
    groups: list[DuplicateGroup] = []
    for reason, owner, key in (
        ("email", ContactEmail.contact_id, ContactEmail.address_index),
        ("phone", ContactPhone.contact_id, ContactPhone.e164_index),
        ("name", Contact.id, Contact.name_index),
    ):
        rows = await session.execute(
            select(key, owner)
            .where(
                owner.in_(live),
                key.in_(
                    select(key)
                    .where(owner.in_(live), key.is_not(None))
                    .group_by(key)
                    .having(func.count(func.distinct(owner)) > 1)
                ),
            )
            .order_by(key, owner)
        )
        groups += _group(reason, rows)
    return _unique(groups)[:limit]


async def account_duplicates(session, limit: int = 100) -> list[DuplicateGroup]:
    """Live accounts sharing a company name without legal form, or a domain."""
    groups: list[DuplicateGroup] = []
    for reason, key in (("company_name", Account.match_name), ("domain", Account.domain)):
        dupes = (
            select(key).where(Account.deleted_at.is_(None), key.is_not(None), key != "").group_by(key).having(func.count() > 1)
        )
        rows = await session.execute(
            select(key, Account.id).where(Account.deleted_at.is_(None), key.in_(dupes)).order_by(key, Account.id)
        )
        groups += _group(reason, rows)
    return _unique(groups)[:limit]


def _group(reason: str, rows) -> list[DuplicateGroup]:
    by_key: dict = {}
    for key, record_id in rows:
        by_key.setdefault(key, []).append(record_id)
    return [DuplicateGroup(reason, sorted(set(ids))) for ids in by_key.values() if len(set(ids)) > 1]


def _unique(groups: list[DuplicateGroup]) -> list[DuplicateGroup]:
    seen, result = set(), []
    for group in groups:
        key = tuple(group.ids)
        if key not in seen:
            seen.add(key)
            result.append(group)
    return result
