"""`dealBoard(pipelineId)`: the kanban board of a pipeline. One grouped statement gives every
column's count and sums; the first page of deals of every column comes from one more statement
(the kit's NestedConnection), whatever the number of columns."""

from __future__ import annotations

import uuid
from collections import defaultdict

import strawberry
from sqlalchemy import func, select
from strawberry.types import Info

from enishi.plugin import Connection, MinorUnits, NestedConnection, PageRequest, SortKey, parse_global_id

from . import models as orm
from .teams import READ, team_scope, visible_deals
from .types import STAGES, SalesDeal, SalesStage

NEWEST_FIRST = ((SortKey(orm.SalesDeal.created_at, "datetime"), True), (SortKey(orm.SalesDeal.id, "uuid"), True))


def _deals_by_stage(stage_ids, scope):
    # Sorted pairs (NestedConnection): a deal carries its stage, so each column's first page is
    # read from the index on (stage_id, created_at, id) on PostgreSQL, not sorted from all its deals.
    deal = orm.SalesDeal
    order = (key.expression.label(f"sort_{i}") for i, (key, _) in enumerate(NEWEST_FIRST))
    return select(deal.stage_id.label("owner_id"), deal.id.label("item_id"), *order).where(
        deal.stage_id.in_(stage_ids), visible_deals(scope)
    )


COLUMN_DEALS = NestedConnection("sales.board_column", orm.SalesDeal, NEWEST_FIRST, _deals_by_stage)


@strawberry.type(description="What a column's deals add up to in one currency.")
class SalesMoneyTotal:
    currency: str
    amount: MinorUnits = strawberry.field(description="The sum of the amounts.")
    weighted_amount: MinorUnits = strawberry.field(description="Σ amount × probability / 100, rounded down once.")


@strawberry.type(description="One stage of a deal board with its deals.")
class SalesBoardColumn:
    stage: SalesStage
    count: int
    totals: list[SalesMoneyTotal] = strawberry.field(description="Per currency, JPY first.")
    _scope: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="The column's deals, newest first.")
    async def deals(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[SalesDeal]:
        # The column's `count` is its deals' `totalCount` (the same deals, counted by the board's
        # grouped sums): known, so counting them again costs no statement.
        return await COLUMN_DEALS.resolve(
            info.context,
            uuid.UUID(self.stage.id),
            PageRequest(first, after, None, None),
            SalesDeal.from_row,
            self._scope,
            count=self.count,
        )


def totals_of(rows) -> dict:
    """(key, currency, count, sum, Σ amount × probability) rows → {key: (count, [SalesMoneyTotal])}."""
    counts: dict = defaultdict(int)
    totals: dict = defaultdict(list)
    for key, currency, count, amount, weighted in rows:
        counts[key] += count
        # SUM over BIGINT is NUMERIC on PostgreSQL (a Decimal here): back to integers.
        totals[key].append(
            SalesMoneyTotal(currency=currency, amount=MinorUnits(int(amount)), weighted_amount=MinorUnits(int(weighted) // 100))
        )
    for key in totals:
        totals[key].sort(key=lambda t: (t.currency != "JPY", t.currency))
    return {key: (counts[key], totals[key]) for key in counts}


def board_sums(pipeline_id: uuid.UUID, scope: uuid.UUID | None):
    deal = orm.SalesDeal
    return (
        select(deal.stage_id, deal.currency, func.count(), func.sum(deal.amount), func.sum(deal.amount * deal.probability))
        .where(deal.pipeline_id == pipeline_id, visible_deals(scope))
        .group_by(deal.stage_id, deal.currency)
    )


@strawberry.type
class BoardQuery:
    @strawberry.field(description="A pipeline's deals grouped by stage, with count, sum and weighted sum per column.")
    async def deal_board(self, info: Info, pipeline_id: strawberry.ID) -> list[SalesBoardColumn]:
        info.context.require(READ)
        pipeline = parse_global_id(pipeline_id, "SalesPipeline", "pipelineId")
        scope = team_scope(info.context)
        stages = await STAGES.load(info.context, pipeline)
        sums = totals_of(await info.context.execute(board_sums(pipeline, scope)))
        return [
            SalesBoardColumn(
                stage=SalesStage.from_row(stage),
                count=sums.get(stage.id, (0, []))[0],
                totals=sums.get(stage.id, (0, []))[1],
                _scope=scope,
            )
            for stage in stages
        ]
