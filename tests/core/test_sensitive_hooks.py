"""The core's sensitive-field hooks with a plugin of its own (no privacy plugin): what
`enishi_sensitive_fields` names gets no filter terms, no export column and no view without
`crm.read_sensitive`; `enishi_field_write_guard` hears each write of one and may refuse it."""

import base64
import csv
import io
import uuid
from urllib.parse import urlsplit

from enishi.plugin import InputError, UserError, hookimpl
from tests.helpers import create_contact


class SecretFields:
    def __init__(self):
        self.writes = []

    @hookimpl
    def enishi_sensitive_fields(self, session, entity):
        return ["custom_fields.secret"] if entity == "contact" else []

    @hookimpl
    def enishi_field_write_guard(self, uow, entity, record_id, fields):
        self.writes.append((entity, record_id, fields))
        if record_id is None:
            raise InputError(UserError("customFields", "not on creation", "REFUSED"))


async def _api(enishi_api):
    plugin = SecretFields()
    return plugin, await enishi_api(plugins=[("secret", plugin)], disabled_plugins=frozenset({"privacy"}))


async def test_hook_enishi_field_write_guard(enishi_api):
    plugin, api = await _api(enishi_api)
    refused = await api.mutate("createContact", {"familyName": "新規", "customFields": {"secret": "x"}}, "contact { id }")
    assert [e["code"] for e in refused["userErrors"]] == ["REFUSED"]
    person = await create_contact(api, familyName="既存", customFields={"open": 1})
    assert plugin.writes == [("contact", None, ["custom_fields.secret"])]  # only writes of sensitive fields
    saved = await api.mutate("updateContact", {"id": person["id"], "customFields": {"open": 1, "secret": "y"}}, "contact { id }")
    assert saved["userErrors"] == []
    assert plugin.writes[-1][1:] == (uuid.UUID(base64.b64decode(person["id"]).decode().split(":")[1]), ["custom_fields.secret"])
    await api.mutate("updateContact", {"id": person["id"], "customFields": {"open": 2, "secret": "y"}}, "contact { id }")
    assert len(plugin.writes) == 2  # the sensitive value did not change: not written again


async def test_hook_enishi_sensitive_fields(enishi_api):
    _, api = await _api(enishi_api)
    person = await create_contact(api, familyName="秘密")
    fields = {"open": "公開", "secret": "y"}
    assert (await api.mutate("updateContact", {"id": person["id"], "customFields": fields}, "contact { id }"))["userErrors"] == []
    query = "query($f: ContactFilter) { contacts(filter: $f) { totalCount } }"
    for key, value, expected in (("open", "公開", 1), ("secret", "y", 0)):
        found = await api.graphql(query, {"f": {"customField": [{"key": key, "eq": value}]}})
        assert found["contacts"]["totalCount"] == expected, key
    node = f'{{ node(id: "{person["id"]}") {{ ... on Contact {{ customFields }} }} }}'
    assert (await api.graphql(node, role="sales"))["node"]["customFields"] == {"open": "公開"}
    assert (await api.graphql(node, role="manager"))["node"]["customFields"] == {"open": "公開", "secret": "y"}
    link = await api.mutate("exportContacts", {}, "url", role="manager")
    rows = list(csv.reader(io.StringIO((await api.client.get(urlsplit(link["url"]).path)).content.decode("utf-8-sig"))))
    assert "custom:open" in rows[0] and "custom:secret" not in rows[0]
