"""Purchases: the one record of an order, written here whoever records it (the `createPurchase`
mutation, loyalty's `recordPurchase`, a shop integration through the kit's `record_purchase`) and
read by every plugin that cares (loyalty's points, insights' RFM and KPIs) through the
`purchase.recorded` / `purchase.refunded` events and the `Purchase` table. No plugin keeps a copy."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select, update

from ..errors import InputError, UserError
from ..events import PURCHASE_RECORDED, PURCHASE_REFUNDED
from ..models import Account, Contact, ContactAccount, Purchase
from ..unit_of_work import UnitOfWork
from .common import Checker, live_ids, record_kind

DEFAULT_CHANNEL = "direct"
CURRENCY_LENGTH = 3
MAX_ITEMS = 1000


def _check_items(check: Checker, items: list[dict]) -> list[dict]:
    if len(items) > MAX_ITEMS:
        check.fail("items", f"at most {MAX_ITEMS} items", "TOO_MANY")
        return []
    clean = []
    for i, item in enumerate(items):
        amount = item.get("amount")
        if amount is None or amount < 0:
            check.fail(f"items.{i}.amount", "must not be negative", "OUT_OF_RANGE")
        quantity = 1 if item.get("quantity") is None else item["quantity"]
        if quantity < 1:
            check.fail(f"items.{i}.quantity", "must be at least 1", "OUT_OF_RANGE")
        category = check.text(item, "category", max_length=100)
        sku = check.text(item, "sku", max_length=100)
        clean.append({"category": category, "sku": sku, "quantity": quantity, "amount": amount})
    return clean


async def _primary_account(uow: UnitOfWork, contact_id: uuid.UUID) -> uuid.UUID | None:
    return (
        await uow.session.execute(
            select(ContactAccount.account_id).where(ContactAccount.contact_id == contact_id, ContactAccount.is_primary)
        )
    ).scalar_one_or_none()


async def record_purchase(uow: UnitOfWork, data: dict, *, routing: dict | None = None) -> Purchase:
    """Record an order. `data`: `contact_id` and/or `account_id` (at least one; a contact's
    purchase is also its primary account's unless `account_id` says otherwise), `amount` in
    minor units (default: the sum of the items), `currency` (ISO 4217, default JPY), `items`
    (`{category, sku, quantity, amount}`, optional), `channel` (default `direct`), `order_ref`
    (unique per channel: `DUPLICATE_ORDER`), `purchased_at` (default now; never in the future).
    Emits `purchase.recorded`, whose listeners (loyalty's points) write in the same transaction;
    `routing` goes in its payload for them."""
    check = Checker()
    contact_id, account_id = data.get("contact_id"), data.get("account_id")
    if contact_id is None and account_id is None:
        check.fail("contact_id", "give the contact or the account who bought", "REQUIRED")
    for field, model, value in (("contact_id", Contact, contact_id), ("account_id", Account, account_id)):
        if value is not None and not await live_ids(uow, model, [value]):
            check.fail(field, f"no such {record_kind(model)}", "NOT_FOUND")
    channel = check.text(data, "channel", max_length=40) or DEFAULT_CHANNEL
    order_ref = check.text(data, "order_ref", max_length=200)
    currency = (check.text(data, "currency", max_length=CURRENCY_LENGTH) or "JPY").upper()
    if len(currency) != CURRENCY_LENGTH or not currency.isascii() or not currency.isalpha():
        check.fail("currency", "must be an ISO 4217 code such as JPY", "INVALID_CURRENCY")
    items = _check_items(check, data.get("items") or [])
    amount = data.get("amount")
    if amount is None:
        if not items:
            check.fail("amount", "give the amount or the items", "REQUIRED")
        amount = sum(item["amount"] or 0 for item in items)
    elif amount < 0:
        check.fail("amount", "must not be negative", "OUT_OF_RANGE")
    now = uow.clock.now()
    purchased_at = data.get("purchased_at") or now
    if purchased_at > now:
        check.fail("purchased_at", "must not be in the future", "OUT_OF_RANGE")
    check.done()
    if order_ref is not None and await _by_order(uow, channel, order_ref) is not None:
        raise InputError(UserError("order_id", "this order was already recorded", "DUPLICATE_ORDER"))
    if account_id is None and contact_id is not None:
        account_id = await _primary_account(uow, contact_id)
    purchase = Purchase(
        contact_id=contact_id,
        account_id=account_id,
        channel=channel,
        order_ref=order_ref,
        amount=amount,
        currency=currency,
        items=items,
        purchased_at=purchased_at,
        recorded_at=now,
    )
    uow.session.add(purchase)
    await uow.session.flush()
    payload: dict = _purchaser(purchase)
    if routing:
        payload["routing"] = routing
    await uow.emit(PURCHASE_RECORDED, purchase.id, payload)
    return purchase


async def _by_order(uow: UnitOfWork, channel: str, order_ref: str) -> Purchase | None:
    return (
        await uow.session.execute(select(Purchase).where(Purchase.channel == channel, Purchase.order_ref == order_ref))
    ).scalar_one_or_none()


def _purchaser(purchase: Purchase) -> dict:
    return {
        "contact_id": str(purchase.contact_id) if purchase.contact_id else None,
        "account_id": str(purchase.account_id) if purchase.account_id else None,
    }


async def refund_purchase(uow: UnitOfWork, purchase_id: uuid.UUID, *, field: str = "purchase_id") -> Purchase:
    """Refund the whole order: the row stays (for the books), dated `refunded_at`, and no longer
    counts in totals; emits `purchase.refunded` (loyalty takes the points back). `field` names
    the input a caller's errors point at."""
    purchase = await uow.session.get(Purchase, purchase_id, with_for_update=True)
    if purchase is None:
        raise InputError(UserError(field, "no such order", "NOT_FOUND"))
    if purchase.refunded_at is not None:
        raise InputError(UserError(field, "was already refunded", "ALREADY_REFUNDED"))
    purchase.refunded_at = uow.clock.now()
    await uow.session.flush()
    await uow.emit(PURCHASE_REFUNDED, purchase.id, _purchaser(purchase))
    return purchase


@dataclass(frozen=True)
class PurchaseSummary:
    """A customer's purchase history in one currency, refunded orders left out."""

    currency: str
    count: int
    total: int
    first_purchased_at: dt.datetime
    last_purchased_at: dt.datetime

    @property
    def average_order_value(self) -> int:
        """客単価: the total over the orders, rounded down to a whole minor unit."""
        return self.total // self.count


def summaries_statement(owner_column, owner_ids: Iterable[uuid.UUID]):
    """(owner, currency, count, total, first, last) of the owners' purchases, refunds left out."""
    return (
        select(
            owner_column,
            Purchase.currency,
            func.count(),
            func.sum(Purchase.amount),
            func.min(Purchase.purchased_at),
            func.max(Purchase.purchased_at),
        )
        .where(owner_column.in_(list(owner_ids)), Purchase.refunded_at.is_(None))
        .group_by(owner_column, Purchase.currency)
        .order_by(owner_column, Purchase.currency)
    )


def summary_of(row) -> PurchaseSummary:
    _, currency, count, total, first, last = row
    return PurchaseSummary(currency, count, int(total), first, last)


async def move_purchases(uow: UnitOfWork, column, survivor_id: uuid.UUID, merged_ids: list[uuid.UUID], dry_run: bool) -> int:
    """Merge: the merged records' purchases become the survivor's."""
    count = (await uow.session.execute(select(func.count()).where(column.in_(merged_ids)))).scalar_one()
    if count and not dry_run:
        await uow.session.execute(
            update(Purchase)
            .where(column.in_(merged_ids))
            .values({column.key: survivor_id})
            .execution_options(synchronize_session=False)
        )
    return count
