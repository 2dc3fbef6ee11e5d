"""Products and quotes in GraphQL: the types, `products`, `quotes`, and the mutations that write
and move them (create, revise, send, accept, decline)."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any, cast

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi.plugin import (
    Account,
    AccountNode,
    Connection,
    MinorUnits,
    PageRequest,
    RowsByColumn,
    SortKey,
    UserErrorType,
    input_values,
    load_row,
    node_resolver,
    paginate,
    parse_global_id,
    run_mutation,
)

from . import documents, quotes
from . import models as orm
from .teams import CONFIGURE, READ, WRITE, team_scope, visible_deals
from .types import SalesDeal, team_node_resolver

LINES = RowsByColumn(orm.SalesQuoteLine, orm.SalesQuoteLine.quote_id, orm.SalesQuoteLine.position)
NEWEST_FIRST = [
    (SortKey(orm.SalesQuote.created_at, "datetime"), True),
    (SortKey(orm.SalesQuote.version, "int"), True),  # a revision written in the same instant comes first
    (SortKey(orm.SalesQuote.id, "uuid"), True),
]


@strawberry.type(description="Something sold, with its price before tax and its tax category (sales plugin).")
class SalesProduct(relay.Node):
    id: relay.NodeID[str]
    code: str
    name: str
    unit_price: MinorUnits
    currency: str
    tax_category: str = strawberry.field(description="standard (10 %), reduced (8 %) or exempt.")
    active: bool

    @classmethod
    def from_row(cls, row: orm.SalesProduct) -> SalesProduct:
        return cls(
            id=str(row.id),
            code=row.code,
            name=row.name,
            unit_price=MinorUnits(row.unit_price),
            currency=row.currency,
            tax_category=row.tax_category,
            active=row.active,
        )

    resolve_nodes = node_resolver(orm.SalesProduct, READ)


@strawberry.type
class SalesQuoteLine:
    position: int
    description: str
    quantity: int
    unit_price: MinorUnits
    discount: MinorUnits = strawberry.field(description="An amount off the line, before tax.")
    tax_category: str
    amount: MinorUnits = strawberry.field(description="quantity × unit price − discount, before tax.")


@strawberry.type(description="One tax rate of a quote: its subtotal and its tax, rounded once for the rate.")
class SalesTaxLine:
    category: str
    rate_percent: int
    subtotal: MinorUnits
    tax: MinorUnits


@strawberry.type(description="One version of a quote (見積書) (sales plugin). Amounts are integer minor units.")
class SalesQuote(relay.Node):
    id: relay.NodeID[str]
    number: str
    version: int
    title: str
    status: str = strawberry.field(description="draft, sent, accepted, declined, expired, or superseded by a revision.")
    currency: str
    seller_registration_number: str | None = strawberry.field(description="T and 13 digits (適格請求書発行事業者登録番号).")
    rounding: str = strawberry.field(description="How each rate's tax was rounded: floor, half_up or ceil.")
    subtotal: MinorUnits
    tax: MinorUnits
    total: MinorUnits
    tax_breakdown: list[SalesTaxLine]
    issue_date: dt.date
    valid_until: dt.date | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    decided_at: dt.datetime | None
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: orm.SalesQuote) -> SalesQuote:
        return cls(
            id=str(row.id),
            number=row.number,
            version=row.version,
            title=row.title,
            status=row.status,
            currency=row.currency,
            seller_registration_number=row.seller_registration_number,
            rounding=row.rounding,
            subtotal=MinorUnits(row.subtotal),
            tax=MinorUnits(row.tax),
            total=MinorUnits(row.total),
            tax_breakdown=[SalesTaxLine(**line) for line in row.tax_breakdown],
            issue_date=row.issue_date,
            valid_until=row.valid_until,
            created_at=row.created_at,
            sent_at=row.sent_at,
            decided_at=row.decided_at,
            _row=row,
        )

    resolve_nodes = team_node_resolver(orm.SalesQuote)

    @strawberry.field
    async def lines(self, info: Info) -> list[SalesQuoteLine]:
        return [
            SalesQuoteLine(
                position=r.position,
                description=r.description,
                quantity=r.quantity,
                unit_price=MinorUnits(r.unit_price),
                discount=MinorUnits(r.discount),
                tax_category=r.tax_category,
                amount=MinorUnits(r.amount),
            )
            for r in await LINES.load(info.context, self._row.id)
        ]

    @strawberry.field
    async def account(self, info: Info) -> AccountNode | None:
        row = await load_row(info.context, Account, self._row.account_id)
        return AccountNode.from_row(row) if row else None

    @strawberry.field
    async def deal(self, info: Info) -> SalesDeal | None:
        row = await load_row(info.context, orm.SalesDeal, self._row.deal_id) if self._row.deal_id else None
        return SalesDeal.from_row(row) if row else None

    @strawberry.field(description="The quote as a JSON document: every figure of the qualified invoice, in minor units.")
    async def document(self, info: Info) -> JSON:
        return cast(JSON, documents.document(*await self._parts(info)))

    @strawberry.field(description="The printable quote in Japanese, a PDF (A4) encoded in base64.")
    async def pdf(self, info: Info) -> str:
        quote, lines, account, seller = await self._parts(info)
        font = info.context.runtime.settings.extra.get("sales_pdf_font")
        return base64.b64encode(documents.pdf(quote, lines, account, seller, font)).decode()

    async def _parts(self, info: Info) -> tuple:
        account = await load_row(info.context, Account, self._row.account_id)
        seller = info.context.runtime.settings.extra.get("sales_seller_name", "")
        return self._row, await LINES.load(info.context, self._row.id), account.name if account else "", seller

    @strawberry.field(description="The version this one revised.")
    async def previous_version(self, info: Info) -> SalesQuote | None:
        row = await load_row(info.context, orm.SalesQuote, self._row.previous_id) if self._row.previous_id else None
        return SalesQuote.from_row(row) if row else None


@strawberry.input
class CreateProductInput:
    code: str
    name: str
    unit_price: MinorUnits
    currency: str | None = None
    tax_category: str | None = strawberry.field(default=None, description="standard (default), reduced or exempt.")


@strawberry.type
class CreateProductPayload:
    product: SalesProduct | None
    user_errors: list[UserErrorType]


@strawberry.input
class SalesQuoteLineInput:
    product_id: strawberry.ID | None = None
    description: str | None = strawberry.field(default=None, description="Default: the product's name.")
    quantity: int = 1
    unit_price: MinorUnits | None = strawberry.field(default=None, description="Default: the product's unit price.")
    discount: MinorUnits | None = None
    tax_category: str | None = strawberry.field(default=None, description="Default: the product's, else standard.")


@strawberry.input
class CreateQuoteInput:
    title: str
    lines: list[SalesQuoteLineInput]
    account_id: strawberry.ID | None = None
    deal_id: strawberry.ID | None = None
    currency: str | None = None
    valid_until: dt.date | None = None
    seller_registration_number: str | None = strawberry.field(
        default=strawberry.UNSET, description="Default: the configured `[extra] sales_seller_registration_number`."
    )


@strawberry.input
class ReviseQuoteInput:
    id: strawberry.ID
    title: str | None = strawberry.UNSET
    lines: list[SalesQuoteLineInput] | None = strawberry.UNSET
    valid_until: dt.date | None = strawberry.UNSET
    seller_registration_number: str | None = strawberry.UNSET


@strawberry.input
class SendQuoteInput:
    id: strawberry.ID


@strawberry.input
class AcceptQuoteInput:
    id: strawberry.ID


@strawberry.input
class DeclineQuoteInput:
    id: strawberry.ID


@strawberry.type
class QuotePayload:
    quote: SalesQuote | None
    user_errors: list[UserErrorType]


def _lines(lines: list[SalesQuoteLineInput] | None) -> list[dict] | None:
    if lines is None:
        return None
    return [input_values(line, ids={"product_id": "SalesProduct"}) for line in lines]


def _quote_payload(row, errors) -> QuotePayload:
    return QuotePayload(quote=SalesQuote.from_row(row) if row else None, user_errors=errors)


@strawberry.type
class QuoteQuery:
    @strawberry.field(description="Products, by code.")
    async def products(self, info: Info) -> list[SalesProduct]:
        info.context.require(READ)
        return [
            SalesProduct.from_row(r) for r in await info.context.scalars(select(orm.SalesProduct).order_by(orm.SalesProduct.code))
        ]

    @strawberry.field(description="Quotes this viewer may see, newest first; `number` gives every version of one quote.")
    async def quotes(
        self,
        info: Info,
        number: str | None = None,
        account_id: strawberry.ID | None = None,
        status: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[SalesQuote]:
        info.context.require(READ)
        statement = select(orm.SalesQuote).where(visible_deals(team_scope(info.context), orm.SalesQuote.account_id))
        if number is not None:
            statement = statement.where(orm.SalesQuote.number == number)
        if account_id is not None:
            statement = statement.where(orm.SalesQuote.account_id == parse_global_id(account_id, "Account", "accountId"))
        if status is not None:
            statement = statement.where(orm.SalesQuote.status == status)
        return await paginate(info.context, statement, NEWEST_FIRST, PageRequest(first, after, None, None), SalesQuote.from_row)


@strawberry.type
class QuoteMutation:
    @strawberry.mutation(description="Add a product to the price book.")
    async def create_product(self, info: Info, input: CreateProductInput) -> CreateProductPayload:
        async def work(uow):
            return await quotes.create_product(uow, input_values(input))

        row, errors = await run_mutation(info, CONFIGURE, work)
        return CreateProductPayload(product=SalesProduct.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Write a quote (a draft) with the next number of the quote sequence.")
    async def create_quote(self, info: Info, input: CreateQuoteInput) -> QuotePayload:
        scope = team_scope(info.context)

        async def work(uow):
            values = input_values(input, ids={"account_id": "Account", "deal_id": "SalesDeal"})
            values["lines"] = _lines(input.lines)
            return await quotes.create_quote(uow, values, scope)

        return _quote_payload(*await run_mutation(info, WRITE, work))

    @strawberry.mutation(description="A new version of a draft or sent quote, same number; the old one is kept, superseded.")
    async def revise_quote(self, info: Info, input: ReviseQuoteInput) -> QuotePayload:
        scope = team_scope(info.context)

        async def work(uow):
            values = input_values(input)
            if "lines" in values:
                values["lines"] = _lines(values["lines"])
            return await quotes.revise_quote(uow, parse_global_id(input.id, "SalesQuote", "id"), values, scope)

        return _quote_payload(*await run_mutation(info, WRITE, work))

    @strawberry.mutation(description="Mark a draft quote sent to the customer.")
    async def send_quote(self, info: Info, input: SendQuoteInput) -> QuotePayload:
        return await _transition(info, input, "send")

    @strawberry.mutation(description="Record that the customer accepted a sent quote.")
    async def accept_quote(self, info: Info, input: AcceptQuoteInput) -> QuotePayload:
        return await _transition(info, input, "accept")

    @strawberry.mutation(description="Record that the customer declined a sent quote.")
    async def decline_quote(self, info: Info, input: DeclineQuoteInput) -> QuotePayload:
        return await _transition(info, input, "decline")


async def _transition(info: Info, input: SendQuoteInput | AcceptQuoteInput | DeclineQuoteInput, action: str) -> QuotePayload:
    scope = team_scope(info.context)

    async def work(uow):
        return await quotes.transition(uow, parse_global_id(input.id, "SalesQuote", "id"), action, scope)

    return _quote_payload(*await run_mutation(info, WRITE, work))
