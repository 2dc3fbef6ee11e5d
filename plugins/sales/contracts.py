"""Contracts: terms from a won deal or written directly, renewals that chain terms, and the
scheduled job that raises renewal alerts before the notice deadline and expires what ended.
No GraphQL here."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from enishi.plugin import Checker, InputError, UnitOfWork, User, UserError, create_task, load_for_update, log_activity

from . import events
from .models import BILLING_CYCLES, SalesContract, SalesContractAlert, SalesDeal, SalesStage
from .tax import CURRENCY_DIGITS, DEFAULT_CURRENCY
from .teams import assignee, check_account

DEFAULT_ALERT_LEAD_DAYS = 30
CONTRACT_ACTIVITY = "sales.contract"
# Whose a renewal is on the account team, in order: customer success keeps the customer, the
# account executive when the team has no one in customer success.
RENEWAL_TEAM_ROLES = ("customer_success", "account_executive")


def alert_lead_days(settings) -> int:
    """How many days before the notice deadline the renewal alert is raised (`[extra] sales_renewal_alert_days`)."""
    return int(settings.extra.get("sales_renewal_alert_days", DEFAULT_ALERT_LEAD_DAYS))


def notice_deadline(end_date: dt.date, notice_days: int) -> dt.date:
    """The last day the customer (or we) may give notice not to renew."""
    return end_date - dt.timedelta(days=notice_days)


def today(clock, settings) -> dt.date:
    return clock.now().astimezone(settings.zone).date()


def _check_terms(check: Checker, data: dict) -> None:
    start, end = data.get("start_date"), data.get("end_date")
    if start is not None and end is not None and end < start:
        check.fail("end_date", "must not be before the start date", "OUT_OF_RANGE")
    if data.get("value") is not None and data["value"] < 0:
        check.fail("value", "must be zero or more (minor units per billing period)", "OUT_OF_RANGE")
    if data.get("currency") is not None and data["currency"] not in CURRENCY_DIGITS:
        check.fail("currency", f"must be an ISO 4217 code among: {', '.join(CURRENCY_DIGITS)}", "INVALID_CHOICE")
    check.choice(data, "billing_cycle", BILLING_CYCLES)
    if data.get("notice_days") is not None and not 0 <= data["notice_days"] <= 3650:
        check.fail("notice_days", "must be from 0 to 3650 days", "OUT_OF_RANGE")


async def renewal_owner(uow: UnitOfWork, account_id: uuid.UUID, department: str | None) -> uuid.UUID | None:
    """The account team member a renewal goes to (RENEWAL_TEAM_ROLES, for the department)."""
    for role in RENEWAL_TEAM_ROLES:
        if (user_id := await assignee(uow, account_id, role, department)) is not None:
            return user_id
    return None


async def create_contract(uow: UnitOfWork, data: dict, scope: uuid.UUID | None) -> SalesContract:
    """A contract term, directly or from a won deal (whose account, department, value and
    currency it takes unless given). Without `owner_id` it goes to the account team's customer
    success (else account executive) for its department, else the deal's owner, else whoever
    writes it."""
    check = Checker()
    owner_given = "owner_id" in data
    deal = None
    if data.get("deal_id") is not None:
        deal = await uow.session.get(SalesDeal, data["deal_id"])
        stage = await uow.session.get(SalesStage, deal.stage_id) if deal else None
        if deal is None or stage is None:
            check.fail("deal_id", "no such deal", "NOT_FOUND")
        elif stage.kind != "won":
            check.fail("deal_id", "a contract follows a won deal", "DEAL_NOT_WON")
        check.done()
        assert deal is not None  # check.done() raised when it was missing
        given = {field: value for field, value in data.items() if value is not None}
        data = {
            "account_id": deal.account_id,
            "department": deal.department,
            "value": deal.amount,
            "currency": deal.currency,
            **given,
        }
    name = check.text(data, "name", max_length=200, required=True)
    department = check.text(data, "department", max_length=200)
    for field in ("account_id", "start_date", "end_date", "value"):
        if data.get(field) is None:
            check.fail(field, "is required", "REQUIRED")
    _check_terms(check, data)
    if data.get("owner_id") is not None and await uow.session.get(User, data["owner_id"]) is None:
        check.fail("owner_id", "no such user", "NOT_FOUND")
    check.done()
    await check_account(uow, data["account_id"], scope)
    if owner_given:
        owner_id = data.get("owner_id")
    else:
        owner_id = await renewal_owner(uow, data["account_id"], department) or (deal.owner_id if deal else None) or uow.actor_id
    contract = SalesContract(
        account_id=data["account_id"],
        deal_id=data.get("deal_id"),
        owner_id=owner_id,
        department=department,
        name=name,
        term=1,
        start_date=data["start_date"],
        end_date=data["end_date"],
        value=data["value"],
        currency=data.get("currency") or DEFAULT_CURRENCY,
        billing_cycle=data.get("billing_cycle") or "annual",
        auto_renew=bool(data.get("auto_renew")),
        notice_days=data.get("notice_days") or 0,
        notice_deadline=notice_deadline(data["end_date"], data.get("notice_days") or 0),
        status="active",
        created_at=uow.clock.now(),
    )
    return await _written(uow, contract, events.CONTRACT_CREATED, f"契約開始: {name}")


async def _written(uow: UnitOfWork, contract: SalesContract, event, summary: str) -> SalesContract:
    uow.session.add(contract)
    await uow.session.flush()
    await _log(uow, contract, summary)
    await uow.emit(event, contract.id, _payload(contract))
    return contract


def _payload(contract: SalesContract) -> dict:
    return {"account_id": str(contract.account_id), "term": contract.term, "end_date": contract.end_date.isoformat()}


async def _log(uow: UnitOfWork, contract: SalesContract, summary: str) -> None:
    """A timeline entry on the account (it also has ABM rescore the account)."""
    await log_activity(
        uow, {"type": CONTRACT_ACTIVITY, "summary": summary, "account_ids": [contract.account_id]}, source_plugin="sales"
    )


async def renew_contract(uow: UnitOfWork, contract_id: uuid.UUID, data: dict, scope: uuid.UUID | None) -> SalesContract:
    """The next term, linked to this one: it starts the day after this one ends and, unless told
    otherwise, lasts as long and keeps the value, cycle, renewal and notice terms."""
    old = await load_for_update(uow, SalesContract, contract_id)
    await check_account(uow, old.account_id, scope, field="id")
    if old.status not in ("active", "expired"):
        raise InputError([UserError("id", f"a {old.status} contract cannot be renewed", "INVALID_STATUS")])
    start = old.end_date + dt.timedelta(days=1)
    values = {
        "start_date": start,
        "end_date": start + (old.end_date - old.start_date),
        "value": old.value,
        "billing_cycle": old.billing_cycle,
        "auto_renew": old.auto_renew,
        "notice_days": old.notice_days,
        **{k: v for k, v in data.items() if v is not None},
    }
    check = Checker()
    _check_terms(check, values)
    check.done()
    old.status = "renewed"
    return await _write_term(uow, old, values)


async def _write_term(uow: UnitOfWork, old: SalesContract, values: dict) -> SalesContract:
    contract = SalesContract(
        account_id=old.account_id,
        deal_id=old.deal_id,
        previous_id=old.id,
        owner_id=old.owner_id,
        department=old.department,
        name=old.name,
        term=old.term + 1,
        currency=old.currency,
        status="active",
        notice_deadline=notice_deadline(values["end_date"], values["notice_days"]),
        created_at=uow.clock.now(),
        **values,
    )
    await uow.session.flush()
    return await _written(uow, contract, events.CONTRACT_RENEWED, f"契約更新: {old.name} (第{old.term + 1}期)")


async def _raise_once(uow: UnitOfWork, contract_id: uuid.UUID, kind: str) -> bool:
    """Record the alert unless it was raised already: True for the one transaction that records
    it. A concurrent worker's insert waits on ours (the unique key) and then does nothing."""
    insert = postgresql_insert if uow.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    result = await uow.session.execute(
        insert(SalesContractAlert)
        .values(id=uuid.uuid4(), contract_id=contract_id, kind=kind, raised_at=uow.clock.now())
        .on_conflict_do_nothing(index_elements=["contract_id", "kind"])
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _not_alerted(kind: str):
    return ~exists().where(SalesContractAlert.contract_id == SalesContract.id, SalesContractAlert.kind == kind)


async def run_alerts(runtime) -> int:
    """The scheduled job: a renewal alert (a task for the owner and `contract.renewal_due`) for
    each active term whose alert date came, and for each term past its end without renewal
    either the next term (auto-renewal) or `contract.expired`. Idempotent: each alert is
    recorded under a unique key (contract term, kind) in the transaction that raises it."""
    now_day = today(runtime.clock, runtime.settings)
    lead = alert_lead_days(runtime.settings)
    async with runtime.read_session() as session:
        renewal = list(
            await session.scalars(
                select(SalesContract.id).where(
                    SalesContract.status == "active",
                    SalesContract.notice_deadline <= now_day + dt.timedelta(days=lead),
                    _not_alerted("renewal_due"),
                )
            )
        )
        ended = list(
            await session.scalars(
                select(SalesContract.id).where(SalesContract.status == "active", SalesContract.end_date < now_day)
            )
        )
    raised = 0
    for contract_id in renewal:
        async with runtime.unit_of_work() as uow:
            raised += await _renewal_alert(uow, contract_id)
    for contract_id in ended:
        async with runtime.unit_of_work() as uow:
            raised += await _end_of_term(uow, contract_id, now_day)
    return raised


async def _renewal_alert(uow: UnitOfWork, contract_id: uuid.UUID) -> int:
    if not await _raise_once(uow, contract_id, "renewal_due"):
        return 0
    contract = await uow.session.get_one(SalesContract, contract_id)
    deadline = contract.notice_deadline
    owner = await uow.session.get(User, contract.owner_id) if contract.owner_id else None
    # An owner gone (deleted, deactivated) leaves the renewal to the account team as it is today.
    assignee_id = owner.id if owner and owner.is_active else await renewal_owner(uow, contract.account_id, contract.department)
    task = await create_task(
        uow,
        {
            "title": f"契約更新の確認: {contract.name} (通知期限 {deadline.isoformat()})",
            "account_id": contract.account_id,
            "assignee_id": assignee_id,
            "due_at": dt.datetime.combine(deadline, dt.time(), tzinfo=uow.settings.zone),
        },
    )
    alert = await uow.session.scalar(
        select(SalesContractAlert).where(SalesContractAlert.contract_id == contract_id, SalesContractAlert.kind == "renewal_due")
    )
    assert alert is not None  # _raise_once inserted it in this transaction
    alert.task_id = task.id
    await uow.emit(
        events.CONTRACT_RENEWAL_DUE,
        contract.id,
        {**_payload(contract), "notice_deadline": deadline.isoformat(), "task_id": str(task.id)},
    )
    return 1


async def _end_of_term(uow: UnitOfWork, contract_id: uuid.UUID, now_day: dt.date) -> int:
    contract = await load_for_update(uow, SalesContract, contract_id)
    if contract.status != "active" or contract.end_date >= now_day:
        return 0  # another worker got here first
    if contract.auto_renew:
        contract.status = "renewed"
        start = contract.end_date + dt.timedelta(days=1)
        await _write_term(
            uow,
            contract,
            {
                "start_date": start,
                "end_date": start + (contract.end_date - contract.start_date),
                "value": contract.value,
                "billing_cycle": contract.billing_cycle,
                "auto_renew": True,
                "notice_days": contract.notice_days,
            },
        )
        return 1
    if not await _raise_once(uow, contract_id, "expired"):
        return 0
    contract.status = "expired"
    await _log(uow, contract, f"契約満了: {contract.name}")
    await uow.emit(events.CONTRACT_EXPIRED, contract.id, _payload(contract))
    return 1


async def deal_stages(uow: UnitOfWork, account_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """ABM's question (`enishi_abm_deal_stages`), for many accounts in two statements: "won"
    while an account has an active contract term today, else "open" while it has an open deal;
    an account with neither is left out."""
    now_day = today(uow.clock, uow.settings)
    won = await uow.session.scalars(
        select(SalesContract.account_id)
        .where(
            SalesContract.account_id.in_(account_ids),
            SalesContract.status.in_(("active", "renewed")),
            SalesContract.start_date <= now_day,
            SalesContract.end_date >= now_day,
        )
        .distinct()
    )
    stages = dict.fromkeys(won, "won")
    open_deals = await uow.session.scalars(
        select(SalesDeal.account_id)
        .join(SalesStage, SalesStage.id == SalesDeal.stage_id)
        .where(SalesDeal.account_id.in_([a for a in account_ids if a not in stages]), SalesStage.kind == "open")
        .distinct()
    )
    return stages | dict.fromkeys(open_deals, "open")
