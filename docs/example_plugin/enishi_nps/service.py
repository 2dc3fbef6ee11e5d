"""The domain rules: no GraphQL here, only the unit of work."""

import uuid

from sqlalchemy import delete, func, select, update

from enishi.plugin import Contact, InputError, UserError, live_ids, log_activity

from .events import NPS_RECORDED
from .models import NpsResponse


async def record_response(uow, contact_id: uuid.UUID, score: int, comment: str | None) -> NpsResponse:
    errors = []
    if not 0 <= score <= 10:
        errors.append(UserError("score", "must be between 0 and 10", "OUT_OF_RANGE"))
    # live_ids share-locks the contact: an erasure running now finishes first, or waits for us.
    if not await live_ids(uow, Contact, [contact_id]):
        errors.append(UserError("contactId", "no such contact", "NOT_FOUND"))
    if errors:
        raise InputError(errors)
    response = NpsResponse(contact_id=contact_id, score=score, comment=comment, answered_at=uow.clock.now())
    uow.session.add(response)
    await uow.session.flush()
    # On the shared timeline, so the account team sees it next to calls and meetings.
    await log_activity(
        uow,
        {"type": "nps.response", "summary": f"NPS {score}", "contact_ids": [contact_id], "direction": "inbound"},
        source_plugin="nps",
    )
    await uow.emit(NPS_RECORDED, response.id, {"score": score})
    return response


def classify(score: int) -> str:
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


async def net_promoter_score(session) -> float | None:
    scores = list((await session.execute(select(NpsResponse.score))).scalars())
    if not scores:
        return None
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return round(100 * (promoters - detractors) / len(scores), 1)


async def move_responses(uow, survivor_id, merged_ids, dry_run: bool) -> int:
    count = (await uow.session.execute(select(func.count()).where(NpsResponse.contact_id.in_(merged_ids)))).scalar_one()
    if not dry_run:
        await uow.session.execute(
            update(NpsResponse).where(NpsResponse.contact_id.in_(merged_ids)).values(contact_id=survivor_id)
        )
    return count


async def erase_responses(uow, contact_id) -> int:
    return (await uow.session.execute(delete(NpsResponse).where(NpsResponse.contact_id == contact_id))).rowcount
