"""`enishi.sealing` as plugin authors use it: a record's data key comes with the record (no
statement of its own, none needed later in the session), destroyed keys read as null and refuse
new text, and a row stored without its key stays visible."""

import pytest
from sqlalchemy import select, text

from enishi.graphql.relay import parse_global_id
from enishi.models import Contact, ContactEmail, SubjectKey
from enishi.services.data_keys import shred_records
from tests.helpers import create_contact

NAMES = "query($id: ID!) { node(id: $id) { ... on Contact { familyName givenName primaryEmail } } }"


async def _load(uow, model, **where):
    return (await uow.session.execute(select(model).filter_by(**where))).scalar_one()


async def test_a_record_flushed_on_a_plain_column_still_reads_and_seals(api):
    person = await create_contact(api, familyName="山田", givenName="太郎", emails=[{"address": "taro@example.jp"}])
    contact_id = parse_global_id(person["id"], "Contact", "id")
    async with api.runtime.unit_of_work() as uow:
        contact = await _load(uow, Contact, id=contact_id)
        contact.owner_id = api.user_ids["admin"]
        await uow.session.flush()  # an UPDATE of the row, not of its key: the key's columns stay loaded
        assert contact.family_name == "山田"
        contact.given_name = "花子"
        email = await _load(uow, ContactEmail, contact_id=contact_id)
        await uow.session.flush()
        assert email.address == "taro@example.jp"
    assert (await api.graphql(NAMES, {"id": person["id"]}))["node"] == {
        "familyName": "山田",
        "givenName": "花子",
        "primaryEmail": "taro@example.jp",
    }


async def test_a_destroyed_key_reads_as_null_and_refuses_new_text(api):
    person = await create_contact(api, familyName="鈴木", emails=[{"address": "suzuki@example.jp"}])
    contact_id = parse_global_id(person["id"], "Contact", "id")
    async with api.runtime.unit_of_work() as uow:
        assert await shred_records(uow, SubjectKey.contact_id, [contact_id]) == 1
    async with api.runtime.unit_of_work() as uow:
        contact = await _load(uow, Contact, id=contact_id)
        assert contact.family_name is None and (await _load(uow, ContactEmail, contact_id=contact_id)).address is None
        with pytest.raises(ValueError, match="destroyed"):
            contact.family_name = "佐藤"
    async with api.runtime.read_session() as session:
        stored = (await session.execute(select(Contact.sealed_family_name).where(Contact.id == contact_id))).scalar_one()
    assert stored is not None  # the old ciphertext, untouched, unreadable for good
    assert (await api.graphql(NAMES, {"id": person["id"]}))["node"] == {
        "familyName": None,
        "givenName": None,
        "primaryEmail": None,
    }


async def test_a_row_stored_without_its_key_is_listed_with_null_text(api):
    """A row written by hand without its key row: listed and counted, its sealed text null."""
    person = await create_contact(api, familyName="高橋")
    async with api.runtime.unit_of_work() as uow:
        await uow.session.execute(text("DELETE FROM core_subject_key"))
    listed = await api.graphql("{ contacts { totalCount nodes { id familyName } } }")
    assert listed["contacts"] == {"totalCount": 1, "nodes": [{"id": person["id"], "familyName": None}]}


async def test_a_new_data_key_is_dated_by_the_runtime_clock(api):
    """Like every time Enishi keeps, a key's creation time comes from the injected clock."""
    api.clock.advance(days=400)
    person = await create_contact(api, familyName="高橋")
    async with api.runtime.read_session() as session:
        created_at = (
            await session.execute(
                select(SubjectKey.created_at).where(SubjectKey.contact_id == parse_global_id(person["id"], "Contact", "id"))
            )
        ).scalar_one()
    assert created_at == api.clock.now()
