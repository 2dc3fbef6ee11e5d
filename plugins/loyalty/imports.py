"""The loyalty columns of the contact import and export: `ポイント残高` (points balance) and
`会員ランク` (tier; export-only: a tier follows from the points, so the import leaves it alone).

Importing a balance enrols the contact in the program (there must be exactly one) and adjusts the
balance to the figure in the file, with the adjustment on the ledger like any other: a second
import of the same file finds the balance already there and writes nothing."""

from __future__ import annotations

import unicodedata
import uuid

from sqlalchemy import select

from enishi.plugin import ImportColumn, InputError, UnitOfWork, UserError

from . import service
from .models import LoyaltyMember, LoyaltyProgram, LoyaltyTier

REASON = "インポート: ポイント残高"


def _fail(message: str, code: str) -> InputError:
    return InputError(UserError("loyalty.points", message, code))


async def check_balance(uow: UnitOfWork, text: str) -> tuple[uuid.UUID, int]:
    """(the program, the balance) a cell asks for: a whole number of points, 0 or more."""
    digits = unicodedata.normalize("NFKC", text).replace(",", "").strip()
    if not digits.isdigit():
        raise _fail("must be a whole number of points, 0 or more", "INVALID_NUMBER")
    programs = list((await uow.session.execute(select(LoyaltyProgram.id).limit(2))).scalars())
    if len(programs) != 1:
        raise _fail(
            "an imported balance needs exactly one loyalty program", "NO_PROGRAM" if not programs else "AMBIGUOUS_PROGRAM"
        )
    return programs[0], int(digits)


async def apply_balance(uow: UnitOfWork, contact_id: uuid.UUID, value: tuple[uuid.UUID, int]) -> bool:
    program_id, balance = value
    member = await service.enroll(uow, program_id, contact_id)
    if member.balance == balance:
        return False
    await service.adjust(uow, member.id, balance - member.balance, REASON)
    return True


async def export_balances(session, contact_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await session.execute(
        select(LoyaltyMember.contact_id, LoyaltyMember.balance).where(LoyaltyMember.contact_id.in_(contact_ids))
    )
    return {contact_id: str(balance) for contact_id, balance in rows}


POINTS = ImportColumn(
    "loyalty.points",
    ("ポイント残高", "ポイント", "loyalty points", "points balance"),
    check=check_balance,
    apply=apply_balance,
    export=export_balances,
    description="The member's points balance: importing it enrols the contact and adjusts the balance to it.",
)


async def export_tiers(session, contact_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await session.execute(
        select(LoyaltyMember.contact_id, LoyaltyTier.name)
        .join(LoyaltyTier, LoyaltyTier.id == LoyaltyMember.tier_id)
        .where(LoyaltyMember.contact_id.in_(contact_ids))
    )
    return dict(rows.all())


TIER = ImportColumn(
    "loyalty.tier",
    ("会員ランク", "loyalty tier"),
    export=export_tiers,
    description="The member's tier, exported; an import reads the column and leaves it alone (tiers follow the points).",
)
