"""The migrations create exactly what the models describe, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from enishi.db import Base


async def test_migrated_database_matches_the_models(api):
    def diff(connection):
        return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)

    async with api.runtime.engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == []


async def test_upgrading_seals_the_plaintext_an_earlier_version_stored(
    enishi_api, enishi_fresh_database_url, enishi_base_settings
):
    """Migrations 0005 to 0009 encrypt names, emails, phones, job titles, custom fields, activity text and task
    titles written before them, with nothing lost."""
    import asyncio
    import dataclasses
    import datetime as dt
    import uuid

    import sqlalchemy as sa

    from enishi.db import JSONType, UTCDateTime, create_engine
    from enishi.db.migrate import upgrade
    from enishi.runtime import Runtime

    runtime = Runtime(dataclasses.replace(enishi_base_settings, database_url=enishi_fresh_database_url))
    await asyncio.to_thread(upgrade, runtime, "0004")  # Alembic runs its own event loop
    contact_id, now = uuid.uuid4(), dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    contact = sa.table(
        "core_contact",
        sa.column("id", sa.Uuid()),
        sa.column("family_name"),
        sa.column("given_name"),
        sa.column("family_name_kana"),
        sa.column("given_name_kana"),
        sa.column("job_title"),
        sa.column("custom_fields", JSONType),
        sa.column("search_text"),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
    )
    email = sa.table(
        "core_contact_email",
        sa.column("id", sa.Uuid()),
        sa.column("contact_id", sa.Uuid()),
        sa.column("address"),
        sa.column("normalized"),
        sa.column("is_primary"),
        sa.column("position"),
    )
    phone = sa.table(
        "core_contact_phone",
        sa.column("id", sa.Uuid()),
        sa.column("contact_id", sa.Uuid()),
        sa.column("e164"),
        sa.column("is_primary"),
        sa.column("position"),
    )
    activity = sa.table(
        "core_activity",
        sa.column("id", sa.Uuid()),
        sa.column("type"),
        sa.column("direction"),
        sa.column("occurred_at", UTCDateTime()),
        sa.column("summary"),
        sa.column("body"),
        sa.column("source_plugin"),
        sa.column("created_at", UTCDateTime()),
    )
    target = sa.table(
        "core_activity_target",
        sa.column("id", sa.Uuid()),
        sa.column("activity_id", sa.Uuid()),
        sa.column("contact_id", sa.Uuid()),
    )
    task = sa.table(
        "core_task",
        sa.column("id", sa.Uuid()),
        sa.column("title"),
        sa.column("status"),
        sa.column("contact_id", sa.Uuid()),
        sa.column("created_at", UTCDateTime()),
    )
    activity_id = uuid.uuid4()
    engine = create_engine(enishi_fresh_database_url)
    async with engine.begin() as connection:
        await connection.execute(
            contact.insert().values(
                id=contact_id,
                family_name="山田",
                given_name="太郎",
                family_name_kana="ヤマダ",
                given_name_kana="タロウ",
                job_title="営業部長",
                custom_fields={"紹介者": "佐藤 花子", "rank": 3},
                search_text="山田太郎",
                created_at=now,
                updated_at=now,
            )
        )
        await connection.execute(
            email.insert().values(
                id=uuid.uuid4(),
                contact_id=contact_id,
                address="Taro@ABC.co.jp",
                normalized="taro@abc.co.jp",
                is_primary=True,
                position=0,
            )
        )
        await connection.execute(
            phone.insert().values(id=uuid.uuid4(), contact_id=contact_id, e164="+81312345678", is_primary=True, position=0)
        )
        await connection.execute(
            activity.insert().values(
                id=activity_id,
                type="call",
                direction="inbound",
                occurred_at=now,
                summary="山田様より電話",
                body="折り返し希望",
                source_plugin="core",
                created_at=now,
            )
        )
        await connection.execute(target.insert().values(id=uuid.uuid4(), activity_id=activity_id, contact_id=contact_id))
        await connection.execute(
            task.insert().values(id=uuid.uuid4(), title="山田様へ折り返し", status="open", contact_id=contact_id, created_at=now)
        )
    await asyncio.to_thread(upgrade, runtime)
    async with engine.connect() as connection:
        stored = (await connection.execute(sa.text("SELECT * FROM core_activity"))).mappings().one()
        person = (await connection.execute(sa.text("SELECT * FROM core_contact"))).mappings().one()
        todo = (await connection.execute(sa.text("SELECT * FROM core_task"))).mappings().one()
    await engine.dispose()
    await runtime.close()
    assert "summary" not in stored and "body" not in stored and "job_title" not in person and "custom_fields" not in person
    assert "営業".encode() not in person["sealed_job_title"] and "佐藤".encode() not in person["sealed_custom_fields"]
    assert "山田".encode() not in stored["sealed_summary"] and "折り返し".encode() not in stored["sealed_body"]
    assert "title" not in todo and "山田".encode() not in todo["sealed_title"]

    api = await enishi_api(database_url=enishi_fresh_database_url)
    found = await api.graphql(
        '{ contacts(filter: {search: "やまだ"}) { nodes { displayName familyNameKana emails { address } phones { e164 } } } }'
    )
    assert found["contacts"]["nodes"] == [
        {
            "displayName": "山田 太郎",
            "familyNameKana": "ヤマダ",
            "emails": [{"address": "Taro@ABC.co.jp"}],
            "phones": [{"e164": "+81312345678"}],
        }
    ]
    by_email = await api.graphql('{ contacts(filter: {email: {eq: "taro@abc.co.jp"}}) { totalCount } }')
    assert by_email["contacts"]["totalCount"] == 1
    by_field = await api.graphql(
        '{ contacts(filter: {customField: [{key: "紹介者", contains: "佐藤"}, {key: "rank", eq: 3}]}) '
        "{ nodes { customFields } } }"
    )
    assert by_field["contacts"]["nodes"] == [{"customFields": {"紹介者": "佐藤 花子", "rank": 3}}]
    by_title = await api.graphql('{ contacts(filter: {jobTitle: {eq: "営業部長"}}) { nodes { jobTitle } } }')
    assert by_title["contacts"]["nodes"] == [{"jobTitle": "営業部長"}]
    timeline = await api.graphql("{ contacts { nodes { timeline { nodes { summary body } } } } }")
    assert timeline["contacts"]["nodes"][0]["timeline"]["nodes"] == [{"summary": "山田様より電話", "body": "折り返し希望"}]
    tasks = await api.graphql("{ tasks { nodes { title contact { displayName } } } }")
    assert tasks["tasks"]["nodes"] == [{"title": "山田様へ折り返し", "contact": {"displayName": "山田 太郎"}}]
