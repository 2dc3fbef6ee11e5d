"""Migration support_0003 seals the ticket text stored before it, with nothing lost."""

import asyncio
import dataclasses
import datetime as dt
import uuid

import sqlalchemy as sa

from enishi.db import JSONType, UTCDateTime, create_engine
from enishi.db.migrate import upgrade
from enishi.plugins.support.models import SupportCsat
from enishi.runtime import Runtime


async def test_upgrading_seals_ticket_text_stored_in_plaintext(enishi_api, enishi_fresh_database_url, enishi_base_settings):
    runtime = Runtime(dataclasses.replace(enishi_base_settings, database_url=enishi_fresh_database_url))
    await asyncio.to_thread(upgrade, runtime, "support_0002")  # Alembic runs its own event loop
    now, ticket_id = dt.datetime(2024, 6, 1, tzinfo=dt.UTC), uuid.uuid4()
    ticket = sa.table(
        "support_ticket",
        *(sa.column(c) for c in ("number", "subject", "status", "priority", "channel", "reopened_count")),
        sa.column("id", sa.Uuid()),
        sa.column("tags", JSONType),
        sa.column("custom_fields", JSONType),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
    )
    article = sa.table(
        "support_article",
        sa.column("id", sa.Uuid()),
        sa.column("ticket_id", sa.Uuid()),
        sa.column("public"),
        sa.column("author_type"),
        sa.column("channel"),
        sa.column("body"),
        sa.column("created_at", UTCDateTime()),
    )
    csat = sa.table(
        "support_csat",
        sa.column("id", sa.Uuid()),
        sa.column("ticket_id", sa.Uuid()),
        sa.column("token_hash"),
        sa.column("status"),
        sa.column("send_at", UTCDateTime()),
        sa.column("rating"),
        sa.column("comment"),
    )
    engine = create_engine(enishi_fresh_database_url)
    async with engine.begin() as connection:
        await connection.execute(
            ticket.insert().values(
                id=ticket_id,
                number=1,
                subject="山田様の請求書",
                status="open",
                priority="normal",
                channel="email",
                reopened_count=0,
                tags=[],
                custom_fields={"注文番号": "A-1"},
                created_at=now,
                updated_at=now,
            )
        )
        await connection.execute(
            article.insert().values(
                id=uuid.uuid4(),
                ticket_id=ticket_id,
                public=True,
                author_type="customer",
                channel="email",
                body="03-1234-5678 まで",
                created_at=now,
            )
        )
        await connection.execute(
            csat.insert().values(
                id=uuid.uuid4(),
                ticket_id=ticket_id,
                token_hash="0" * 64,
                status="answered",
                send_at=now,
                rating=5,
                comment="山田より感謝",
            )
        )
    await asyncio.to_thread(upgrade, runtime)
    async with engine.connect() as connection:
        stored = (await connection.execute(sa.text("SELECT * FROM support_ticket"))).mappings().one()
        message = (await connection.execute(sa.text("SELECT * FROM support_article"))).mappings().one()
        survey = (await connection.execute(sa.text("SELECT * FROM support_csat"))).mappings().one()
    await engine.dispose()
    await runtime.close()
    assert {"subject", "custom_fields"}.isdisjoint(stored) and "body" not in message and "comment" not in survey
    assert "山田".encode() not in stored["sealed_subject"] + stored["sealed_custom_fields"] + survey["sealed_comment"]
    assert b"03-1234" not in message["sealed_body"]

    api = await enishi_api(database_url=enishi_fresh_database_url)
    data = await api.graphql("{ tickets { nodes { subject customFields articles { body } } } }")
    assert data["tickets"]["nodes"] == [
        {"subject": "山田様の請求書", "customFields": {"注文番号": "A-1"}, "articles": [{"body": "03-1234-5678 まで"}]}
    ]
    async with api.runtime.read_session() as session:
        assert (await session.execute(sa.select(SupportCsat))).scalar_one().comment == "山田より感謝"
