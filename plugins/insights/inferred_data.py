"""Health scores and segment memberships are inferred personal data: in the person's access
export, never portable (nothing another service could take over), erased with them, and dropped
from merged records (the survivor is scored again; its memberships follow at the next
evaluation of each segment)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select

from enishi.plugin import MergeMove

from . import health
from .health_models import InsightsHealth, InsightsSegment, InsightsSegmentMember


def _member_column(kind: str):
    return InsightsSegmentMember.contact_id if kind == "contact" else InsightsSegmentMember.account_id


async def collect(session, contact_id: uuid.UUID) -> dict:
    found: dict = {}
    row = (await session.execute(select(InsightsHealth).where(InsightsHealth.contact_id == contact_id))).scalar_one_or_none()
    if row is not None:
        found["health"] = {
            "score": row.score,
            "band": row.band,
            "reasons": [health.render(r["code"], r["params"], "en") for r in row.reasons],
            "computed_at": row.computed_at.isoformat(),
        }
    segments = await session.execute(
        select(InsightsSegment.name, InsightsSegmentMember.since)
        .join(InsightsSegment, InsightsSegment.id == InsightsSegmentMember.segment_id)
        .where(InsightsSegmentMember.contact_id == contact_id)
        .order_by(InsightsSegment.name)
    )
    if memberships := [{"segment": name, "since": since.isoformat()} for name, since in segments]:
        found["segments"] = memberships
    return found


async def erase(session, contact_id: uuid.UUID) -> dict[str, int]:
    return {
        model.__tablename__: (await session.execute(delete(model).where(model.contact_id == contact_id))).rowcount
        for model in (InsightsHealth, InsightsSegmentMember)
    }


async def merge(uow, kind: str, survivor_id: uuid.UUID, merged_ids: list[uuid.UUID], dry_run: bool) -> list[MergeMove]:
    moves = []
    for model, column in ((InsightsHealth, health.health_column(kind)), (InsightsSegmentMember, _member_column(kind))):
        count = (await uow.session.execute(select(func.count()).select_from(model).where(column.in_(merged_ids)))).scalar_one()
        if not dry_run:
            await uow.session.execute(delete(model).where(column.in_(merged_ids)))
        moves.append(MergeMove("insights", model.__tablename__, count))
    return moves
