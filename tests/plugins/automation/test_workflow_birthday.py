"""A yearly date trigger on a contact's birthday, a date custom field sealed with the person's other
custom fields: found by the core's month-day blind index (nobody decrypted), once per contact and
year, 29 February counted on 28 February in other years, an erased person leaving no index row,
the index rebuilt by `enishi db reindex-dates` for contacts written before it."""

import asyncio
import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from enishi.db import is_sqlite
from enishi.models import ContactCustomDateIndex
from enishi.plugin import DataSubject, split_global_id
from enishi.plugins.automation.workflow_dates import start_dated_runs
from tests.core.test_cli import enishi
from tests.helpers import count_rows, create_contact
from tests.plugins.automation.test_workflow_workers import TableLock
from tests.plugins.automation.workflow_helpers import WORKFLOW, create_workflow, runs, work

BIRTHDAY = {
    "trigger": {"type": "date", "entity": "contact", "field": "custom_fields.birth_date", "yearly": True, "days_before": 0},
    "steps": [{"id": "greet", "type": "create_task", "title": "お誕生日のご挨拶", "contact": {"field": "id"}}],
}
TEST_KEK = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="  # the test suite's


def _tokyo_morning(year: int, month: int, day: int) -> dt.datetime:
    return dt.datetime(year, month, day, 0, 0, tzinfo=dt.UTC)  # 09:00 in Tokyo


async def _define_birth_date(api) -> None:
    made = await api.mutate(
        "createCustomFieldDefinition",
        {"entity": "CONTACT", "key": "birth_date", "type": "DATE", "labelJa": "生年月日"},
        "definition { id } userErrors { field code }",
    )
    assert made["userErrors"] == [], made


def _raw(global_id: str) -> uuid.UUID:
    return split_global_id(global_id, ("Contact",), "id")[1]


async def _index_rows(api, contact_id: str) -> int:
    async with api.runtime.read_session() as session:
        mine = ContactCustomDateIndex.contact_id == _raw(contact_id)
        return await session.scalar(select(func.count()).select_from(ContactCustomDateIndex).where(mine)) or 0


async def _greeted(api) -> list[str]:
    data = await api.graphql("{ tasks { nodes { title contact { familyName } } } }")
    return sorted(task["contact"]["familyName"] for task in data["tasks"]["nodes"])


async def test_a_birthday_greeting_once_a_year_on_each_contacts_day_and_a_leap_day_birthday_on_the_28th(api):
    await _define_birth_date(api)
    await create_workflow(api, BIRTHDAY)
    await create_contact(api, familyName="鈴木", customFields={"birth_date": "1990/6/12"})  # stored 1990-06-12
    await create_contact(api, familyName="閏", customFields={"birth_date": "2000-02-29"})
    await create_contact(api, familyName="佐藤", customFields={"memo": "誕生日なし"})
    assert await start_dated_runs(api.runtime) == 0  # 2024-06-10: nobody's day in the last week

    api.clock.set(_tokyo_morning(2024, 6, 12))
    assert await start_dated_runs(api.runtime) == 1
    assert await start_dated_runs(api.runtime) == 0  # scanned again: the same occurrence
    await work(api)
    assert await _greeted(api) == ["鈴木"]
    [run] = await runs(api)
    # The run says which year, not the date: with the contact's id that would be their birthday in clear.
    assert run["eventType"] == "date:contact.custom_fields.birth_date"
    assert run["payload"] == {"field": "custom_fields.birth_date", "year": 2024}

    api.clock.set(_tokyo_morning(2025, 2, 28))  # no 29 February in 2025
    assert await start_dated_runs(api.runtime) == 1
    api.clock.set(_tokyo_morning(2025, 6, 14))  # two days late (no worker ran): caught up
    assert await start_dated_runs(api.runtime) == 1
    await work(api)
    assert await _greeted(api) == sorted(["鈴木", "閏", "鈴木"])

    api.clock.set(_tokyo_morning(2028, 2, 28))  # a leap year: the 28th is not their day
    assert await start_dated_runs(api.runtime) == 0
    api.clock.set(_tokyo_morning(2028, 2, 29))
    assert await start_dated_runs(api.runtime) == 1


async def test_a_changed_birthday_moves_the_index_and_a_contact_erased_before_the_day_gets_no_run(api):
    await _define_birth_date(api)
    await create_workflow(api, BIRTHDAY)
    moved = await create_contact(api, familyName="移動", customFields={"birth_date": "1980-06-11"})
    erased = await create_contact(api, familyName="消去", customFields={"birth_date": "1985-06-12"})
    updated = await api.mutate(
        "updateContact", {"id": moved["id"], "customFields": {"birth_date": "1980-07-01"}}, "contact { id } userErrors { code }"
    )
    assert updated["userErrors"] == []
    assert await _index_rows(api, erased["id"]) == 1
    async with api.runtime.unit_of_work() as uow:
        await api.runtime.plugins.call("enishi_subject_erase", uow=uow, subject=DataSubject(_raw(erased["id"])))
    assert await _index_rows(api, erased["id"]) == 0

    api.clock.set(_tokyo_morning(2024, 6, 12))  # 11 June (the old birthday) and 12 June in the week
    assert await start_dated_runs(api.runtime) == 0
    api.clock.set(_tokyo_morning(2024, 7, 1))
    assert await start_dated_runs(api.runtime) == 1


async def test_deleting_the_date_definition_drops_its_index_and_the_command_rebuilds_it(enishi_api, enishi_fresh_migrated):
    api = await enishi_api(database_url=enishi_fresh_migrated)
    # Written before birth_date was a date field: no index yet.
    early = await create_contact(api, familyName="以前", customFields={"birth_date": "1970-06-12"})
    await _define_birth_date(api)
    later = await create_contact(api, familyName="以後", customFields={"birth_date": "1975-06-12"})
    assert (await _index_rows(api, early["id"]), await _index_rows(api, later["id"])) == (0, 1)
    env = {"ENISHI_DATABASE_URL": enishi_fresh_migrated, "ENISHI_KEK": TEST_KEK}
    assert "2 contacts read" in enishi("db", "reindex-dates", env=env).stdout
    assert (await _index_rows(api, early["id"]), await _index_rows(api, later["id"])) == (1, 1)
    await create_workflow(api, BIRTHDAY)
    api.clock.set(_tokyo_morning(2024, 6, 12))
    assert await start_dated_runs(api.runtime) == 2

    definitions = await api.graphql("{ customFieldDefinitions(entity: CONTACT) { id } }")
    [definition] = definitions["customFieldDefinitions"]
    deleted = await api.mutate("deleteCustomFieldDefinition", {"id": definition["id"]}, "userErrors { code }")
    assert deleted["userErrors"] == []
    assert await count_rows(api, "core_contact_custom_date_index") == 0

    wrong_key = enishi("db", "reindex-dates", env={**env, "ENISHI_KEK": TEST_KEK[::-1]}, check=False)
    assert wrong_key.returncode != 0 and wrong_key.stderr.count("\n") == 1 and wrong_key.stderr.startswith("enishi: error:")


async def test_a_birthday_trigger_is_yearly_on_a_date_custom_field(api):
    await _define_birth_date(api)
    await api.mutate(
        "createCustomFieldDefinition",
        {"entity": "CONTACT", "key": "趣味", "type": "TEXT", "labelJa": "趣味"},
        "definition { id }",
    )
    trigger = BIRTHDAY["trigger"]
    for changed, field, code in (
        ({"yearly": False}, "definition.trigger.yearly", "YEARLY_REQUIRED"),
        ({"field": "custom_fields.趣味"}, "definition.trigger.field", "NOT_A_DATE_FIELD"),
        ({"field": "custom_fields.undefined"}, "definition.trigger.field", "NOT_A_DATE_FIELD"),
    ):
        refused = await api.mutate(
            "createWorkflow", {"name": "x", "definition": {**BIRTHDAY, "trigger": {**trigger, **changed}}}, WORKFLOW
        )
        assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(field, code)]


async def test_two_scans_of_the_same_day_at_once_start_one_run(enishi_api, enishi_fresh_migrated):
    """On PostgreSQL, where two workers write at once: both scans find no run yet, then insert;
    the test holds their inserts until both wait, so the second meets the first's committed run."""
    if is_sqlite(enishi_fresh_migrated):
        pytest.skip("SQLite writes one transaction at a time: no two scans can insert at once")
    postgres_url = enishi_fresh_migrated
    api = await enishi_api(database_url=postgres_url)
    await _define_birth_date(api)
    await create_workflow(api, BIRTHDAY)
    await create_contact(api, familyName="同時", customFields={"birth_date": "1990-06-10"})
    async with TableLock(postgres_url, "automation_workflow_run") as lock:
        scans = [asyncio.ensure_future(start_dated_runs(api.runtime)) for _ in range(2)]
        await lock.waiting_backends(2)
        await lock.release()
        started = await asyncio.gather(*scans)
    assert sorted(started) == [0, 1]
    assert len(await runs(api)) == 1
