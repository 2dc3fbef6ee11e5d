"""A stand-in for the surveys work, loaded as an extra plugin by the health tests: NPS answers
are timeline activities of type `survey.nps` whose summary is `NPS <score>`, and the latest one
is reported to health scores through `enishi_customer_signals` as `survey.nps`, exactly what the
insights plugin's surveys must report."""

from sqlalchemy import select

from enishi.plugin import Activity, ActivityTarget, ActivityType, CustomerSignal, hookimpl

NPS_ACTIVITY = "survey.nps"


@hookimpl
def enishi_activity_types():
    return [ActivityType(NPS_ACTIVITY, "NPS answer", "NPS回答")]


@hookimpl
async def enishi_customer_signals(session, kind, customer_ids, now):
    target = ActivityTarget.contact_id if kind == "contact" else ActivityTarget.account_id
    rows = await session.execute(
        select(target, Activity)
        .join(Activity, Activity.id == ActivityTarget.activity_id)
        .where(target.in_(customer_ids), Activity.type == NPS_ACTIVITY, Activity.occurred_at <= now)
        .order_by(Activity.occurred_at)
    )
    latest = dict(rows.all())  # ascending: the last answer wins
    return [
        CustomerSignal(owner, "survey.nps", int(activity.summary.removeprefix("NPS ")), activity.occurred_at)
        for owner, activity in latest.items()
    ]
