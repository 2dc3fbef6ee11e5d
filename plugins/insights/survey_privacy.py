"""Survey answers are personal data the person gave: exported with them (score, when, the comment
from its timeline entry), and on erasure their pending links are deleted and their answers
unlinked (contact, timeline entry, token) so that only an anonymous score stays in the figures;
the comment goes with the timeline entry, whose key the core destroys. Merging contacts moves
the merged people's answers to the survivor."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select, update

from enishi.plugin import Activity, ErasureReport, MergeMove, PersonalDataField, UnitOfWork

from .survey_models import InsightsSurvey, InsightsSurveyAnswer

TABLE = "insights_survey_answer"
PERSONAL_DATA = [
    PersonalDataField(TABLE, "contact_id", "user.unique_id", purposes=("surveys",), erasure="anonymise"),
    PersonalDataField(TABLE, "score", "user.survey", purposes=("surveys",), erasure="anonymise"),
]


async def collect(uow: UnitOfWork, contact_id: uuid.UUID) -> list[dict]:
    rows = (
        await uow.session.execute(
            select(InsightsSurveyAnswer, InsightsSurvey.name, Activity)
            .outerjoin(InsightsSurvey, InsightsSurvey.id == InsightsSurveyAnswer.survey_id)
            .outerjoin(Activity, Activity.id == InsightsSurveyAnswer.activity_id)
            .where(InsightsSurveyAnswer.contact_id == contact_id)
            .order_by(InsightsSurveyAnswer.sent_at)
        )
    ).all()
    return [
        {
            "survey": name or answer.source,
            "kind": answer.kind,
            "status": answer.status,
            "sent_at": answer.sent_at.isoformat(),
            "score": answer.score,
            "answered_at": answer.answered_at.isoformat() if answer.answered_at else None,
            "comment": activity.body if activity is not None else None,
        }
        for answer, name, activity in rows
    ]


async def erase(uow: UnitOfWork, contact_id: uuid.UUID, report: ErasureReport) -> None:
    pending = await uow.session.execute(
        delete(InsightsSurveyAnswer).where(InsightsSurveyAnswer.contact_id == contact_id, InsightsSurveyAnswer.status == "sent")
    )
    report.add(TABLE, "delete", pending.rowcount)  # type: ignore[attr-defined]
    unlinked = await uow.session.execute(
        update(InsightsSurveyAnswer)
        .where(InsightsSurveyAnswer.contact_id == contact_id)
        .values(contact_id=None, activity_id=None, token_hash=None)
    )
    report.add(TABLE, "anonymise", unlinked.rowcount)  # type: ignore[attr-defined]


async def merge(uow: UnitOfWork, survivor_id: uuid.UUID, merged_ids: list[uuid.UUID], dry_run: bool) -> MergeMove:
    moved = InsightsSurveyAnswer.contact_id.in_(merged_ids)
    count = len((await uow.session.execute(select(InsightsSurveyAnswer.id).where(moved))).all())
    if not dry_run:
        await uow.session.execute(update(InsightsSurveyAnswer).where(moved).values(contact_id=survivor_id))
    return MergeMove("insights", TABLE, count)
