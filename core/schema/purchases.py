"""Purchases in GraphQL: the `Purchase` node, `Contact.purchases` / `Account.purchases` and their
`purchaseSummary`, and the `createPurchase` / `createPurchaseRefund` mutations. Contributed to the
core types through `enishi_graphql_type_fields`, as a plugin would. Reading needs `purchase.read`,
recording `purchase.write`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.types import Info

from enishi import models
from enishi.graphql.batch import batch_field
from enishi.graphql.errors import UserErrorType
from enishi.graphql.inputs import input_values, utc_instant
from enishi.graphql.mutation import run_mutation
from enishi.graphql.nodes import node_resolver
from enishi.graphql.relay import Connection, NestedConnection, PageRequest, SortKey, parse_global_id
from enishi.graphql.scalars import MinorUnits
from enishi.services import purchases

from .types import Account, Contact, _related

READ, WRITE = "purchase.read", "purchase.write"


@strawberry.type(name="PurchaseItem", description="One line of an order.")
class PurchaseItemType:
    category: str | None
    sku: str | None
    quantity: int
    amount: MinorUnits = strawberry.field(description="The line's total, in minor units of the purchase's currency.")


@strawberry.type(description="An order by a contact and/or an account: the one record loyalty and insights read.")
class Purchase(relay.Node):
    id: relay.NodeID[str]
    channel: str = strawberry.field(description="Where it was bought (`direct` unless the recorder said).")
    order_id: str | None = strawberry.field(description="The shop's order number, unique per channel.")
    amount: MinorUnits = strawberry.field(description="In minor units of `currency` (yen for JPY).")
    currency: str = strawberry.field(description="ISO 4217 code.")
    items: list[PurchaseItemType]
    purchased_at: dt.datetime
    refunded_at: dt.datetime | None = strawberry.field(description="When the whole order was refunded, if it was.")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: models.Purchase) -> Purchase:
        return cls(
            id=str(row.id),
            channel=row.channel,
            order_id=row.order_ref,
            amount=MinorUnits(row.amount),
            currency=row.currency,
            items=[
                PurchaseItemType(
                    category=i.get("category"), sku=i.get("sku"), quantity=i.get("quantity") or 1, amount=MinorUnits(i["amount"])
                )
                for i in row.items or []
            ],
            purchased_at=row.purchased_at,
            refunded_at=row.refunded_at,
            _row=row,
        )

    contact = batch_field(
        _related(models.Contact, "contact_id", Contact.from_row),
        graphql_type=Contact | None,
        description="Who bought, unless they were erased (the purchase stays, for the books).",
    )
    account = batch_field(_related(models.Account, "account_id", Account.from_row), graphql_type=Account | None)

    resolve_nodes = node_resolver(models.Purchase, READ)


@strawberry.type(description="A customer's purchases in one currency, refunded orders left out.")
class PurchaseSummary:
    currency: str
    count: int
    total: MinorUnits
    average_order_value: MinorUnits = strawberry.field(description="客単価: the total over the orders, rounded down.")
    first_purchased_at: dt.datetime
    last_purchased_at: dt.datetime

    @classmethod
    def of(cls, summary: purchases.PurchaseSummary) -> PurchaseSummary:
        return cls(
            currency=summary.currency,
            count=summary.count,
            total=MinorUnits(summary.total),
            average_order_value=MinorUnits(summary.average_order_value),
            first_purchased_at=summary.first_purchased_at,
            last_purchased_at=summary.last_purchased_at,
        )


# --- Contact.purchases, Account.purchases and their summaries -------------------------------------

_ORDER = ((SortKey(models.Purchase.purchased_at, "datetime"), True), (SortKey(models.Purchase.id, "uuid"), True))


def _pairs(column):
    def pairs(owner_ids, _extra):
        return select(column.label("owner_id"), models.Purchase.id.label("item_id")).where(column.in_(owner_ids))

    return pairs


CONTACT_PURCHASES = NestedConnection("contact.purchases", models.Purchase, _ORDER, _pairs(models.Purchase.contact_id))
ACCOUNT_PURCHASES = NestedConnection("account.purchases", models.Purchase, _ORDER, _pairs(models.Purchase.account_id))


def contact_purchases(
    contacts: list,
    info: Info,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> list[Connection[Purchase]] | Awaitable[list]:
    """`Contact.purchases` of every contact of a level (a batch field): newest first, refunded ones
    included (with `refundedAt`)."""
    info.context.require(READ)
    return CONTACT_PURCHASES.connections(
        info.context, [c._row.id for c in contacts], PageRequest(first, after, last, before), Purchase.from_row
    )


def account_purchases(
    accounts: list,
    info: Info,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> list[Connection[Purchase]] | Awaitable[list]:
    """`Account.purchases` of every account of a level (a batch field): newest first, those of its
    contacts bought for it included."""
    info.context.require(READ)
    return ACCOUNT_PURCHASES.connections(
        info.context, [a._row.id for a in accounts], PageRequest(first, after, last, before), Purchase.from_row
    )


def _summaries(column):
    """`purchaseSummary` of every owner of a level (a batch field): count, total, average order
    value, first and last purchase, per currency, in one statement."""

    async def load_many(owners: list, info: Info) -> list[list[PurchaseSummary]]:
        info.context.require(READ)
        owner_ids = [owner._row.id for owner in owners]
        found: dict = {owner: [] for owner in owner_ids}
        for row in (await info.context.execute(purchases.summaries_statement(column, list(found)))).all():
            found[row[0]].append(PurchaseSummary.of(purchases.summary_of(row)))
        return [list(found[owner]) for owner in owner_ids]

    return load_many


contact_purchase_summary = _summaries(models.Purchase.contact_id)
account_purchase_summary = _summaries(models.Purchase.account_id)


def type_fields() -> list[tuple[str, Any]]:
    summary = "Count, total, average order value (客単価), first and last purchase, per currency; refunds left out."
    fields = []
    for type_name, connection, summaries in (
        ("Contact", contact_purchases, contact_purchase_summary),
        ("Account", account_purchases, account_purchase_summary),
    ):
        fields += [
            (
                type_name,
                batch_field(connection, name="purchases", graphql_type=Connection[Purchase], description="Newest first."),
            ),
            (
                type_name,
                batch_field(summaries, name="purchaseSummary", graphql_type=list[PurchaseSummary], description=summary),
            ),
        ]
    return fields


# --- mutations ----------------------------------------------------------------------------------


@strawberry.input
class PurchaseItemInput:
    amount: MinorUnits
    category: str | None = None
    sku: str | None = None
    quantity: int | None = None


@strawberry.input
class CreatePurchaseInput:
    contact_id: strawberry.ID | None = None
    account_id: strawberry.ID | None = None
    amount: MinorUnits | None = strawberry.field(default=None, description="Default: the sum of the items.")
    currency: str | None = strawberry.field(default=None, description="ISO 4217; default JPY.")
    items: list[PurchaseItemInput] | None = None
    channel: str | None = None
    order_id: str | None = strawberry.field(default=None, description="Unique per channel: `DUPLICATE_ORDER`.")
    purchased_at: dt.datetime | None = strawberry.field(default=None, description="Default: now; never in the future.")


@strawberry.input
class CreatePurchaseRefundInput:
    purchase_id: strawberry.ID


@strawberry.type
class PurchasePayload:
    purchase: Purchase | None
    user_errors: list[UserErrorType]


@strawberry.type
class PurchaseMutation:
    @strawberry.mutation(description="Record an order; loyalty and insights hear of it through `purchase.recorded`.")
    async def create_purchase(self, info: Info, input: CreatePurchaseInput) -> PurchasePayload:
        async def work(uow):
            data = input_values(input, {"contact_id": "Contact", "account_id": "Account"})
            data["order_ref"] = data.pop("order_id", None)
            data["items"] = [input_values(item) for item in input.items or []]
            data["purchased_at"] = utc_instant(input.purchased_at, "purchasedAt")
            return await purchases.record_purchase(uow, data)

        row, errors = await run_mutation(info, WRITE, work)
        return PurchasePayload(purchase=Purchase.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Refund a whole order: it stays on record, dated, and leaves the totals.")
    async def create_purchase_refund(self, info: Info, input: CreatePurchaseRefundInput) -> PurchasePayload:
        row, errors = await run_mutation(
            info,
            WRITE,
            lambda uow: purchases.refund_purchase(uow, parse_global_id(input.purchase_id, "Purchase", "purchaseId")),
        )
        return PurchasePayload(purchase=Purchase.from_row(row) if row else None, user_errors=errors)
