"""Bundled plugin `sales`: pipelines and deals, account teams, quotes with Japanese consumption
tax. Built on the plugin kit only (`enishi.plugin`), as any outside plugin would be."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import strawberry

from enishi.plugin import (
    ACTIVITY_LOGGED,
    NON_ADMIN_ROLES,
    ActivityType,
    ErasureReport,
    MergeMove,
    Permission,
    PersonalDataField,
    ScheduledJob,
    hookimpl,
)

from . import (
    board,
    contract_schema,
    contracts,
    deals,
    demo,
    events,
    forecast,
    forecast_schema,
    people,
    quote_schema,
    quotes,
    schema,
    types,
    workflow_steps,
)
from .teams import CONFIGURE, READ, READ_ALL, TEAM_MANAGE, TEAM_READ, WRITE


@hookimpl
def enishi_migrations():
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def enishi_permissions():
    return [
        Permission(READ, "See pipelines and the deals of accounts whose team one is on", ("manager", "sales", "integration")),
        Permission(READ_ALL, "See and change every deal, whatever the account team", ("manager", "integration"), "sales:read"),
        Permission(WRITE, "Create, change and move deals", ("manager", "sales", "integration")),
        Permission(CONFIGURE, "Manage pipelines, products and quotas", ("manager",), "sales:configure"),
        Permission(TEAM_READ, "See who is on an account's team", NON_ADMIN_ROLES, "sales:read"),
        Permission(TEAM_MANAGE, "Put users on and off account teams", ("manager",), "sales:configure"),
    ]


@hookimpl
def enishi_graphql_types():
    return [
        types.SalesPipeline,
        types.SalesStage,
        types.SalesDeal,
        quote_schema.SalesProduct,
        quote_schema.SalesQuote,
        contract_schema.SalesContract,
    ]


@hookimpl
def enishi_graphql_query():
    return [
        schema.SalesQuery,
        board.BoardQuery,
        quote_schema.QuoteQuery,
        contract_schema.ContractQuery,
        forecast_schema.ForecastQuery,
    ]


@hookimpl
def enishi_graphql_mutation():
    return [schema.SalesMutation, quote_schema.QuoteMutation, contract_schema.ContractMutation, forecast_schema.ForecastMutation]


@hookimpl
def enishi_graphql_type_fields():
    return [
        (
            "Account",
            strawberry.field(resolver=schema.account_deals, name="deals", description="The account's deals (sales plugin)."),
        ),
        (
            "Account",
            strawberry.field(resolver=types.account_team, name="team", description="The account's team (sales plugin)."),
        ),
        (
            "Account",
            strawberry.field(
                resolver=contract_schema.account_contracts,
                name="contracts",
                description="The account's contract terms (sales plugin).",
            ),
        ),
        (
            "Contact",
            strawberry.field(
                resolver=schema.contact_deals, name="deals", description="Deals the contact has a role on (sales plugin)."
            ),
        ),
    ]


@hookimpl
def enishi_activity_types():
    return [
        ActivityType(deals.CREATED_ACTIVITY, "Deal created", "商談作成"),
        ActivityType(deals.STAGE_ACTIVITY, "Deal stage changed", "商談ステージ変更"),
        ActivityType(contracts.CONTRACT_ACTIVITY, "Contract started, renewed or expired", "契約"),
    ]


@hookimpl
def enishi_scheduled_jobs():
    return [
        ScheduledJob("sales.expire_quotes", dt.timedelta(hours=1), quotes.expire_due, "expire sent quotes past their validity"),
        ScheduledJob(
            "sales.contract_alerts",
            dt.timedelta(hours=1),
            contracts.run_alerts,
            "renewal alerts before notice deadlines; expire or auto-renew ended terms",
        ),
    ]


@hookimpl
def enishi_event_types():
    return events.EVENT_TYPES


@hookimpl
async def enishi_on_event(event, uow):
    if event.is_(ACTIVITY_LOGGED) and event.payload.get("type") not in deals.OWN_ACTIVITIES:
        accounts = [uuid.UUID(a) for a in event.payload.get("account_ids", [])]
        contacts = [uuid.UUID(c) for c in event.payload.get("contact_ids", [])]
        if accounts or contacts:
            await deals.touch(uow, accounts, contacts, event.occurred_at)


@hookimpl
async def enishi_on_events(events, uow):
    """Events raised together (an import's notes): the deals of all their accounts and contacts touched at once."""
    if events[0].is_(ACTIVITY_LOGGED):
        await deals.touch_many(
            uow,
            [
                (
                    [uuid.UUID(a) for a in event.payload.get("account_ids", [])],
                    [uuid.UUID(c) for c in event.payload.get("contact_ids", [])],
                    event.occurred_at,
                )
                for event in events
                if event.payload.get("type") not in deals.OWN_ACTIVITIES
            ],
        )
    else:
        for event in events:
            await enishi_on_event(event, uow)


@hookimpl
def enishi_personal_data():
    return [
        PersonalDataField("sales_deal_contact", "contact_id", "user.unique_id", purposes=("sales",), erasure="delete"),
        PersonalDataField("sales_deal_contact", "role", "user.job", purposes=("sales",), erasure="delete"),
        PersonalDataField("sales_deal_contact", "sealed_note", "user.content", purposes=("sales",), erasure="delete"),
    ]


@hookimpl
async def enishi_subject_collect(uow, subject):
    return await people.collect(uow, subject.contact_id)


@hookimpl
async def enishi_won_deals(session, until):
    return await forecast.won_deals(session, until)


@hookimpl
async def enishi_subject_erase(uow, subject):
    report = ErasureReport("sales")
    report.add("sales_deal_contact", "delete", await people.erase(uow, subject.contact_id))
    return report


@hookimpl
async def enishi_merge(uow, entity, survivor_id, merged_ids, dry_run):
    if entity == "contact":
        return [MergeMove("sales", "sales_deal_contact", await people.merge_contacts(uow, survivor_id, merged_ids, dry_run))]
    if entity == "account":
        moved = await people.merge_accounts(uow, survivor_id, merged_ids, dry_run)
        return [MergeMove("sales", table, count) for table, count in moved.items()]
    return []


@hookimpl(optionalhook=True)
async def enishi_abm_deal_stages(uow, account_ids):
    """ABM's own hook (plugins/abm/hooks.py), answered when ABM is installed: its `customer`
    stage follows active contracts, its `opportunity` stage open deals."""
    return await contracts.deal_stages(uow, account_ids)


@hookimpl
async def enishi_demo_data(uow, rng, account_ids, contact_ids):
    """A pipeline with deals on some demo accounts: open ones spread over the stages, a few won and lost."""
    await demo.load(uow, rng, account_ids, contact_ids)


@hookimpl
def enishi_workflow_step_types():
    return workflow_steps.STEP_TYPES
