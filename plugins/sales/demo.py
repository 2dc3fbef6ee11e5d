"""The sales plugin's share of `enishi demo`: one pipeline and deals on some of the accounts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from enishi.plugin import UnitOfWork

from . import deals, pipelines
from .models import SalesPipeline, SalesStage

PIPELINE = "新規"
STAGES = (
    {"name": "リード", "probability": 10, "kind": "open", "rotting_days": 14},
    {"name": "ヒアリング", "probability": 30, "kind": "open", "rotting_days": 14},
    {"name": "提案", "probability": 60, "kind": "open", "rotting_days": 10},
    {"name": "交渉", "probability": 90, "kind": "open", "rotting_days": 7},
    {"name": "受注", "probability": 100, "kind": "won", "rotting_days": None},
    {"name": "失注", "probability": 0, "kind": "lost", "rotting_days": None},
)
SUBJECTS = ("基幹システム刷新", "クラウド移行", "保守契約更新", "追加ライセンス", "PoC 支援", "データ分析基盤")


async def load(uow: UnitOfWork, rng, account_ids: list, contact_ids: list) -> None:
    # `enishi demo --force` adds a second set on top of the first: its deals join the same pipeline.
    pipeline = await uow.session.scalar(select(SalesPipeline).where(SalesPipeline.name == PIPELINE))
    if pipeline is None:
        pipeline = await pipelines.create_pipeline(uow, {"name": PIPELINE, "stages": list(STAGES)})
    stages = list(
        await uow.session.scalars(select(SalesStage).where(SalesStage.pipeline_id == pipeline.id).order_by(SalesStage.position))
    )
    today = uow.clock.now().astimezone(uow.settings.zone).date()
    for n, account_id in enumerate(account_ids):
        deal = await deals.create_deal(
            uow,
            {
                "name": f"{rng.choice(SUBJECTS)} ({n + 1})",
                "account_id": account_id,
                "pipeline_id": pipeline.id,
                "amount": rng.randrange(5, 500) * 100_000,
                "expected_close_date": today + dt.timedelta(days=rng.randrange(7, 180)),
                "owner_id": None,
            },
            None,
        )
        stage = rng.choice(stages)
        if stage.kind == "open" and stage.position == 0:
            continue
        await deals.move_stage(
            uow,
            deal.id,
            stage.id,
            None,
            close_date=today if stage.kind != "open" else None,
            lost_reason="price" if stage.kind == "lost" else None,
        )
