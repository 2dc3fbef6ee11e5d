"""Bundled plugin `abm`: target accounts, buying committees, departments, engagement scoring.

It declares one hook of its own, `enishi_abm_deal_stages`, which a deals or contracts plugin
implements so that stages can reach `opportunity` and `customer`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pluggy
from sqlalchemy import delete, select

from enishi.plugin import (
    ACCOUNT_UPDATED,
    ACTIVITY_DELETED,
    ACTIVITY_LOGGED,
    ACTIVITY_UPDATED,
    CONTACT_DELETED,
    CONTACT_MERGED,
    CONTACT_RESTORED,
    CONTACT_UPDATED,
    NON_ADMIN_ROLES,
    Account,
    ErasureReport,
    MergeMove,
    Permission,
    PersonalDataField,
    ScheduledJob,
    batch_field,
    hookimpl,
)

from . import committees, events, models, schema, scoring, segment_terms, service, targets, types

_spec = pluggy.HookspecMarker("enishi")


class AbmHookSpecs:
    @_spec
    def enishi_abm_deal_stages(self, uow, account_ids):
        """Say where each account's deals stand, as a dict from account id to `"won"` (a won deal
        or an active contract) or `"open"` (an open opportunity); accounts with neither are left
        out. Called once for all the accounts a rescoring covers (the daily job: 500 at a time),
        so answer each question in one statement for them all."""


ENISHI_HOOKSPECS = AbmHookSpecs


@hookimpl
def enishi_migrations():
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def enishi_graphql_types():
    return [types.AbmAccount, types.AbmDepartment]


@hookimpl
def enishi_graphql_query():
    return [schema.AbmQuery]


@hookimpl
def enishi_graphql_mutation():
    return [schema.AbmMutation]


@hookimpl
def enishi_graphql_type_fields():
    return [
        (
            "Account",
            batch_field(
                schema.account_abm,
                name="abm",
                graphql_type=types.AbmAccount | None,
                description="Account-based marketing: tier, stage, engagement, committee (abm plugin).",
            ),
        )
    ]


@hookimpl
def enishi_permissions():
    return [
        Permission("abm.read", "See target accounts, tiers, stages and engagement", NON_ADMIN_ROLES, "abm:read"),
        Permission(
            "abm.read_people", "See buying committees (roles are personal data)", ("manager", "sales", "marketing"), "abm:read"
        ),
        Permission(
            "abm.write",
            "Target accounts, departments, buying roles, account plans",
            ("manager", "sales", "marketing"),
            "abm:write",
        ),
        Permission("abm.configure", "Change the engagement formula and ICP rules", ("manager", "marketing"), "abm:configure"),
        Permission("abm.export", "Export audiences of target accounts' contacts", ("manager", "marketing"), "abm:write"),
    ]


@hookimpl
def enishi_event_types():
    return events.EVENT_TYPES


@hookimpl
def enishi_scheduled_jobs():
    return [
        ScheduledJob(
            "abm.recompute",
            dt.timedelta(days=1),
            scoring.recompute_all,
            "rescore every target account (the engagement window moves with time)",
        )
    ]


@hookimpl
async def enishi_on_event(event, uow):
    if any(event.is_(t) for t in (ACTIVITY_LOGGED, ACTIVITY_UPDATED, ACTIVITY_DELETED)):
        await scoring.recompute(uow, await scoring.accounts_touched_by_activities(uow.session, [event.entity_id]))
    elif any(event.is_(t) for t in (CONTACT_UPDATED, CONTACT_DELETED, CONTACT_RESTORED, CONTACT_MERGED)):
        await scoring.recompute(uow, await scoring.accounts_of_contacts(uow.session, [event.entity_id]))
    elif event.is_(ACCOUNT_UPDATED):
        await _refresh_icp(uow, event.entity_id)


@hookimpl
async def enishi_on_events(events, uow):
    """Events raised together (an import's notes): the accounts they touch rescored once."""
    if events[0].is_(ACTIVITY_LOGGED):
        await scoring.recompute(uow, await scoring.accounts_touched_by_activities(uow.session, [e.entity_id for e in events]))
    else:
        for event in events:
            await enishi_on_event(event, uow)


async def _refresh_icp(uow, account_id) -> None:
    target = (
        await uow.session.execute(
            select(models.AbmTargetAccount).where(models.AbmTargetAccount.account_id == account_id).with_for_update()
        )
    ).scalar_one_or_none()
    if target is None:
        return
    config = await service.get_config(uow.session)
    target.icp_score = service.icp_score(await uow.session.get(Account, account_id), config["icp_rules"])
    if not target.tier_set_by_hand:
        target.tier = service.tier_for(target.icp_score, config["tier_thresholds"])
    await uow.session.flush()


@hookimpl
def enishi_personal_data():
    return [
        PersonalDataField(
            "abm_buying_role", "role", "user.job_title", purposes=("account_based_marketing",), provenance="observed"
        ),
        PersonalDataField(
            "abm_buying_role",
            "seniority",
            "user.job_title",
            purposes=("account_based_marketing",),
            provenance="inferred",
            portable=False,
        ),
        PersonalDataField(
            "abm_target_account",
            "score",
            "user.behavior",
            purposes=("account_based_marketing",),
            provenance="inferred",
            portable=False,
            erasure="retain",
        ),
    ]


@hookimpl
async def enishi_merge(uow, entity, survivor_id, merged_ids, dry_run):
    """Roles move to the survivor, except at accounts where the survivor already has one."""
    if entity != "contact":
        return []
    roles = models.AbmBuyingRole
    rows = (await uow.session.execute(select(roles).where(roles.contact_id.in_(merged_ids)).order_by(roles.id))).scalars().all()
    held = set((await uow.session.execute(select(roles.account_id).where(roles.contact_id == survivor_id))).scalars())
    moved = 0
    for role in rows:
        if role.account_id in held:
            if not dry_run:
                await uow.session.delete(role)
            continue
        held.add(role.account_id)
        moved += 1
        if not dry_run:
            role.contact_id = survivor_id
    await uow.session.flush()
    return [MergeMove("abm", "abm_buying_role", moved)]


@hookimpl
async def enishi_subject_collect(uow, subject):
    rows = (
        await uow.session.execute(
            select(models.AbmBuyingRole, Account.name)
            .join(Account, Account.id == models.AbmBuyingRole.account_id)
            .where(models.AbmBuyingRole.contact_id == subject.contact_id)
        )
    ).all()
    if not rows:
        return None
    # Seniority and scores are inferred: not portable, so not in the export.
    return {"buying_roles": [{"account": name, "role": role.role} for role, name in rows]}


@hookimpl
async def enishi_subject_erase(uow, subject):
    report = ErasureReport("abm")
    accounts = (
        (
            await uow.session.execute(
                select(models.AbmBuyingRole.account_id).where(models.AbmBuyingRole.contact_id == subject.contact_id)
            )
        )
        .scalars()
        .all()
    )
    removed = (
        await uow.session.execute(delete(models.AbmBuyingRole).where(models.AbmBuyingRole.contact_id == subject.contact_id))
    ).rowcount
    report.add("abm_buying_role", "delete", removed)
    await scoring.recompute(uow, accounts)
    return report


@hookimpl
async def enishi_demo_data(uow, rng, account_ids, contact_ids):
    from enishi.plugin import ContactAccount

    for account_id in rng.sample(account_ids, k=max(len(account_ids) * 3 // 10, 1)):
        await targets.set_target(uow, account_id, {"rationale": "展示会で関心あり / met at the expo"})
        departments = [
            await committees.create_department(uow, account_id, {"name": name, "kind": kind})
            for name, kind in (("購買部", "purchasing"), ("技術部", "engineering"))
        ]
        people = (
            (
                await uow.session.execute(
                    select(ContactAccount.contact_id)
                    .where(ContactAccount.account_id == account_id)
                    .order_by(ContactAccount.contact_id)
                )
            )
            .scalars()
            .all()
        )
        for contact_id, role in zip(people, ("decision_maker", "champion", "influencer", "end_user"), strict=False):
            await committees.assign_role(uow, account_id, contact_id, {"role": role, "department_id": rng.choice(departments).id})


@hookimpl
def enishi_segment_terms():
    return segment_terms.TERMS
