"""Personal data and merges: a person's roles on deals (with the sealed notes about them) are
exported and erased; erasure unlinks the person and keeps the deal and its amounts. Merging
contacts or accounts moves deals, roles and team memberships to the survivor."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select, update

from enishi.plugin import UnitOfWork

from . import teams
from .models import SalesContract, SalesDeal, SalesDealContact, SalesQuote


async def collect(uow: UnitOfWork, contact_id: uuid.UUID) -> dict | None:
    rows = (
        await uow.session.execute(
            select(SalesDealContact, SalesDeal.name)
            .join(SalesDeal, SalesDeal.id == SalesDealContact.deal_id)
            .where(SalesDealContact.contact_id == contact_id)
            .order_by(SalesDealContact.created_at)
        )
    ).all()
    if not rows:
        return None
    return {
        "deal_roles": [
            {
                "deal": name,
                "role": link.role,
                "is_primary": link.is_primary,
                "note": link.note,
                "since": link.created_at.isoformat(),
            }
            for link, name in rows
        ]
    }


async def erase(uow: UnitOfWork, contact_id: uuid.UUID) -> int:
    """Unlink the person from every deal; the row goes with its key, the note with it."""
    removed = await uow.session.execute(delete(SalesDealContact).where(SalesDealContact.contact_id == contact_id))
    return removed.rowcount  # type: ignore[attr-defined]


async def merge_contacts(uow: UnitOfWork, survivor_id: uuid.UUID, merged_ids: list[uuid.UUID], dry_run: bool) -> int:
    """Move the merged contacts' deal roles to the survivor; on a deal where the survivor already
    has a role, theirs stays and the merged one's goes. Returns how many roles moved."""
    taken = set(await uow.session.scalars(select(SalesDealContact.deal_id).where(SalesDealContact.contact_id == survivor_id)))
    moved = 0
    for link in list(await uow.session.scalars(select(SalesDealContact).where(SalesDealContact.contact_id.in_(merged_ids)))):
        if link.deal_id in taken:
            if not dry_run:
                await uow.session.delete(link)
            continue
        taken.add(link.deal_id)
        moved += 1
        if not dry_run:
            link.contact_id = survivor_id
    await uow.session.flush()
    return moved


async def merge_accounts(uow: UnitOfWork, survivor_id: uuid.UUID, merged_ids: list[uuid.UUID], dry_run: bool) -> dict[str, int]:
    """Move the merged accounts' deals, quotes, contracts and team memberships to the survivor."""
    counts = {}
    for model in (SalesDeal, SalesQuote, SalesContract):
        condition = model.account_id.in_(merged_ids)
        if dry_run:
            counts[model.__tablename__] = len(list(await uow.session.scalars(select(model.id).where(condition))))
        else:
            result = await uow.session.execute(
                update(model).where(condition).values(account_id=survivor_id).execution_options(synchronize_session=False)
            )
            counts[model.__tablename__] = result.rowcount  # type: ignore[attr-defined]
    counts["sales_team_member"] = await teams.merge_accounts(uow, survivor_id, merged_ids, dry_run)
    return counts
