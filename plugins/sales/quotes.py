"""Products and quotes (見積書): line items, consumption tax per rate rounded once per document,
gapless numbers from a locked counter row, versions, and the draft → sent → accepted / declined /
expired life. No GraphQL here."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from enishi.plugin import Checker, InputError, UnitOfWork, UserError, load_for_update

from . import events
from .models import TAX_CATEGORIES, SalesDeal, SalesProduct, SalesQuote, SalesQuoteLine, SalesSequence
from .tax import CURRENCY_DIGITS, DEFAULT_CURRENCY, DEFAULT_ROUNDING, ROUNDINGS, registration_number_problem, tax_per_rate
from .teams import check_account

MAX_LINES = 200
MAX_QUANTITY = 1_000_000
MAX_UNIT_PRICE = 10**12
# What the `MinorUnits` scalar carries (a JSON number a JavaScript client reads exactly); 200 lines
# at the largest quantity and price would pass it, and the database's BIGINT too.
MAX_TOTAL = 2**53 - 1
# A quote changes state only along these arrows; `expired` comes from the scheduled job.
TRANSITIONS = {"send": ("draft", "sent"), "accept": ("sent", "accepted"), "decline": ("sent", "declined")}


def settings_value(settings, key: str, default):
    return settings.extra.get(f"sales_{key}", default)


async def create_product(uow: UnitOfWork, data: dict) -> SalesProduct:
    check = Checker()
    code = check.text(data, "code", max_length=60, required=True)
    name = check.text(data, "name", max_length=200, required=True)
    currency = data.get("currency") or DEFAULT_CURRENCY
    if currency not in CURRENCY_DIGITS:
        check.fail("currency", f"must be an ISO 4217 code among: {', '.join(CURRENCY_DIGITS)}", "INVALID_CHOICE")
    if not 0 <= data["unit_price"] <= MAX_UNIT_PRICE:
        check.fail("unit_price", f"must be from 0 to {MAX_UNIT_PRICE} minor units", "OUT_OF_RANGE")
    category = check.choice(data, "tax_category", TAX_CATEGORIES) or "standard"
    check.done()
    product = SalesProduct(
        code=code, name=name, unit_price=data["unit_price"], currency=currency, tax_category=category, created_at=uow.clock.now()
    )
    uow.session.add(product)
    await uow.session.flush()
    return product


async def next_number(uow: UnitOfWork, sequence: str) -> int:
    """The sequence's next value, taken under a lock on its counter row that this transaction
    holds until it ends: a concurrent quote waits, then reads the value after ours; a rollback
    returns ours unused. Numbers are therefore consecutive, without gaps or repeats."""
    dialect = uow.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    # The row is created on first use; two first uses at once both "create" it, one does nothing.
    await uow.session.execute(insert(SalesSequence).values(name=sequence, next_value=1).on_conflict_do_nothing())
    counter = (
        await uow.session.execute(select(SalesSequence).where(SalesSequence.name == sequence).with_for_update())
    ).scalar_one()
    value = counter.next_value
    await uow.session.execute(update(SalesSequence).where(SalesSequence.name == sequence).values(next_value=value + 1))
    return value


async def _lines(uow: UnitOfWork, check: Checker, lines: list[dict], currency: str, rounding: str) -> list[SalesQuoteLine]:
    """The quote's lines, checked, and their total with tax within MAX_TOTAL."""
    if not 1 <= len(lines) <= MAX_LINES:
        check.fail("lines", f"a quote has 1 to {MAX_LINES} lines", "OUT_OF_RANGE")
    products = {
        p.id: p
        for p in await uow.session.scalars(
            select(SalesProduct).where(SalesProduct.id.in_([li["product_id"] for li in lines if li.get("product_id")]))
        )
    }
    built = []
    for i, line in enumerate(lines):
        field = f"lines.{i}"
        product_id = line.get("product_id")
        product = products.get(product_id) if product_id is not None else None
        if product_id is not None and product is None:
            check.fail(f"{field}.product_id", "no such product", "NOT_FOUND")
        if product is not None and product.currency != currency:
            check.fail(
                f"{field}.product_id",
                f"the product is priced in {product.currency}, the quote in {currency}",
                "CURRENCY_MISMATCH",
            )
        description = line.get("description") or (product.name if product else None)
        unit_price = line.get("unit_price") if line.get("unit_price") is not None else (product.unit_price if product else None)
        category = line.get("tax_category") or (product.tax_category if product else "standard")
        quantity, discount = line.get("quantity"), line.get("discount") or 0
        description = check.text({f"{field}.description": description}, f"{field}.description", max_length=300, required=True)
        if unit_price is None or not 0 <= unit_price <= MAX_UNIT_PRICE:
            check.fail(f"{field}.unit_price", f"must be from 0 to {MAX_UNIT_PRICE} minor units", "OUT_OF_RANGE")
            continue
        if quantity is None or not 1 <= quantity <= MAX_QUANTITY:
            check.fail(f"{field}.quantity", f"must be from 1 to {MAX_QUANTITY}", "OUT_OF_RANGE")
            continue
        if category not in TAX_CATEGORIES:
            check.fail(f"{field}.tax_category", f"must be one of: {', '.join(TAX_CATEGORIES)}", "INVALID_CHOICE")
        if not 0 <= discount <= quantity * unit_price:
            check.fail(f"{field}.discount", "must be from 0 to the line's quantity × unit price", "OUT_OF_RANGE")
        built.append(
            SalesQuoteLine(
                position=i,
                product_id=product.id if product else None,
                description=description,
                quantity=quantity,
                unit_price=unit_price,
                discount=discount,
                tax_category=category,
                amount=quantity * unit_price - discount,
            )
        )
    if not check.errors and sum(r.subtotal + r.tax for r in _per_rate(built, rounding)) > MAX_TOTAL:
        check.fail("lines", f"the quote's total with tax must be at most {MAX_TOTAL} minor units", "OUT_OF_RANGE")
    return built


def _per_rate(lines: list[SalesQuoteLine], rounding: str):
    return tax_per_rate([(line.tax_category, line.amount) for line in lines], rounding)


def _price(quote: SalesQuote, lines: list[SalesQuoteLine]) -> None:
    """Totals of the qualified invoice: a subtotal and a tax per rate, each rate's tax rounded once."""
    per_rate = _per_rate(lines, quote.rounding)
    quote.tax_breakdown = [
        {"category": r.category, "rate_percent": r.rate_percent, "subtotal": r.subtotal, "tax": r.tax} for r in per_rate
    ]
    quote.subtotal = sum(r.subtotal for r in per_rate)
    quote.tax = sum(r.tax for r in per_rate)
    quote.total = quote.subtotal + quote.tax


def _check_header(check: Checker, uow: UnitOfWork, data: dict) -> dict:
    values = {}
    if "title" in data:
        values["title"] = check.text(data, "title", max_length=200, required=True)
    registration = data.get("seller_registration_number", settings_value(uow.settings, "seller_registration_number", None))
    if registration is not None and (problem := registration_number_problem(registration)):
        check.fail("seller_registration_number", problem, "INVALID_REGISTRATION_NUMBER")
    values["seller_registration_number"] = registration
    if "valid_until" in data:
        values["valid_until"] = data["valid_until"]
    return values


async def _deal_account(uow: UnitOfWork, check: Checker, data: dict) -> uuid.UUID | None:
    """The quote's account: the deal's when a deal is named (an account given as well must match)."""
    account_id = data.get("account_id")
    if data.get("deal_id") is not None:
        deal = await uow.session.get(SalesDeal, data["deal_id"])
        if deal is None:
            check.fail("deal_id", "no such deal", "NOT_FOUND")
        elif account_id is not None and account_id != deal.account_id:
            check.fail("account_id", "is not the deal's account", "MISMATCH")
        else:
            account_id = deal.account_id
    if account_id is None and not check.errors:
        check.fail("account_id", "a quote needs an account or a deal", "REQUIRED")
    return account_id


async def create_quote(uow: UnitOfWork, data: dict, scope: uuid.UUID | None) -> SalesQuote:
    check = Checker()
    header = _check_header(check, uow, {"title": data.get("title"), **data})
    currency = data.get("currency") or DEFAULT_CURRENCY
    if currency not in CURRENCY_DIGITS:
        check.fail("currency", f"must be an ISO 4217 code among: {', '.join(CURRENCY_DIGITS)}", "INVALID_CHOICE")
    rounding = settings_value(uow.settings, "tax_rounding", DEFAULT_ROUNDING)
    if rounding not in ROUNDINGS:  # a configuration error, not the caller's
        raise ValueError(f"[extra] sales_tax_rounding must be one of {ROUNDINGS}")
    account_id = await _deal_account(uow, check, data)
    lines = await _lines(uow, check, data.get("lines") or [], currency, rounding)
    check.done()
    assert account_id is not None  # _deal_account failed the check when it found none, and check.done() raised
    await check_account(uow, account_id, scope)
    sequence = settings_value(uow.settings, "quote_sequence", "quote")
    number = f"{settings_value(uow.settings, 'quote_prefix', 'Q-')}{await next_number(uow, sequence):06d}"
    quote = SalesQuote(
        number=number,
        version=1,
        account_id=account_id,
        deal_id=data.get("deal_id"),
        status="draft",
        currency=currency,
        rounding=rounding,
        issue_date=data.get("issue_date") or uow.clock.now().astimezone(uow.settings.zone).date(),
        created_by_id=uow.actor_id,
        created_at=uow.clock.now(),
        **header,
    )
    return await _write(uow, quote, lines)


async def _write(uow: UnitOfWork, quote: SalesQuote, lines: list[SalesQuoteLine]) -> SalesQuote:
    _price(quote, lines)
    uow.session.add(quote)
    await uow.session.flush()
    for line in lines:
        line.quote_id = quote.id
        uow.session.add(line)
    await uow.session.flush()
    await uow.emit(
        events.QUOTE_CREATED,
        quote.id,
        {"account_id": str(quote.account_id), "number": quote.number, "version": quote.version, "total": quote.total},
    )
    return quote


async def _load(uow: UnitOfWork, quote_id: uuid.UUID, scope: uuid.UUID | None) -> SalesQuote:
    quote = await load_for_update(uow, SalesQuote, quote_id)
    await check_account(uow, quote.account_id, scope, field="id")
    return quote


async def revise_quote(uow: UnitOfWork, quote_id: uuid.UUID, data: dict, scope: uuid.UUID | None) -> SalesQuote:
    """A new version under the same number, with the changes asked (new lines replace the old
    ones); the old version stays, `superseded`. Only the latest draft or sent version is revised."""
    old = await _load(uow, quote_id, scope)
    if old.status not in ("draft", "sent"):
        raise InputError([UserError("id", f"a {old.status} quote cannot be revised", "INVALID_STATUS")])
    check = Checker()
    header = _check_header(check, uow, {"seller_registration_number": old.seller_registration_number, **data})
    old_lines = list(
        await uow.session.scalars(
            select(SalesQuoteLine).where(SalesQuoteLine.quote_id == old.id).order_by(SalesQuoteLine.position)
        )
    )
    if data.get("lines") is not None:
        lines = await _lines(uow, check, data["lines"], old.currency, old.rounding)
    else:
        lines = [
            SalesQuoteLine(
                **{
                    c: getattr(line, c)
                    for c in (
                        "position",
                        "product_id",
                        "description",
                        "quantity",
                        "unit_price",
                        "discount",
                        "tax_category",
                        "amount",
                    )
                }
            )
            for line in old_lines
        ]
    check.done()
    await _set_status(uow, old, "superseded")
    quote = SalesQuote(
        number=old.number,
        version=old.version + 1,
        previous_id=old.id,
        account_id=old.account_id,
        deal_id=old.deal_id,
        title=header.get("title", old.title),
        status="draft",
        currency=old.currency,
        seller_registration_number=header["seller_registration_number"],
        rounding=old.rounding,
        valid_until=header.get("valid_until", old.valid_until),
        issue_date=uow.clock.now().astimezone(uow.settings.zone).date(),
        created_by_id=uow.actor_id,
        created_at=uow.clock.now(),
    )
    return await _write(uow, quote, lines)


async def _set_status(uow: UnitOfWork, quote: SalesQuote, status: str) -> None:
    previous, quote.status = quote.status, status
    now = uow.clock.now()
    if status == "sent":
        quote.sent_at = now
    elif status in ("accepted", "declined", "expired"):
        quote.decided_at = now
    await uow.session.flush()
    await uow.emit(events.QUOTE_STATUS_CHANGED, quote.id, {"account_id": str(quote.account_id), "from": previous, "to": status})


async def transition(uow: UnitOfWork, quote_id: uuid.UUID, action: str, scope: uuid.UUID | None) -> SalesQuote:
    quote = await _load(uow, quote_id, scope)
    source, target = TRANSITIONS[action]
    if quote.status != source:
        raise InputError(
            [UserError("id", f"only a {source} quote can be {target} (this one is {quote.status})", "INVALID_STATUS")]
        )
    if action == "send" and quote.seller_registration_number is None:
        raise InputError(
            [UserError("seller_registration_number", "a quote is sent with the seller's registration number", "REQUIRED")]
        )
    await _set_status(uow, quote, target)
    return quote


async def expire_due(runtime) -> int:
    """The scheduled job: sent quotes whose `valid_until` passed (in the configured zone) expire.
    Idempotent: each quote is re-read under its lock and only a still `sent` one changes."""
    today = runtime.clock.now().astimezone(runtime.settings.zone).date()
    async with runtime.read_session() as session:
        due = list(
            await session.scalars(select(SalesQuote.id).where(SalesQuote.status == "sent", SalesQuote.valid_until < today))
        )
    for quote_id in due:
        async with runtime.unit_of_work() as uow:
            quote = await load_for_update(uow, SalesQuote, quote_id)
            if quote.status == "sent":
                await _set_status(uow, quote, "expired")
    return len(due)
