"""Events raised together (`uow.emit_many`: an import chunk's new accounts, contacts and notes) reach a plugin
implementing `enishi_on_events` at once, and a plugin implementing only `enishi_on_event` one by
one; an event raised alone reaches `enishi_on_event`, or `enishi_on_events` as a list of one."""

import pytest

from enishi.errors import InputError, UserError
from enishi.plugin import hookimpl
from tests.core.import_files import csv_bytes, graphql_import
from tests.helpers import create_contact

ROWS = [
    ["会社名", "担当者名", "メールアドレス", "最終対応日", "メモ"],
    ["株式会社縁", "山田太郎", "taro@example.jp", "2024/04/01", "見積送付"],
    ["株式会社縁", "佐藤花子", "hanako@example.jp", "2024/04/02", "電話"],
    ["縁商事", "鈴木一郎", "ichiro@example.jp", "2024/04/03", "訪問"],
]
LOG = 'mutation($id: ID!) { logActivity(input: {type: "note", summary: "電話", contactIds: [$id]}) { activity { id } } }'


class OneByOne:
    """Implements only `enishi_on_event`."""

    def __init__(self) -> None:
        self.heard: list[str] = []

    @hookimpl
    def enishi_on_event(self, event):
        self.heard.append(event.type)


class Both(OneByOne):
    """Implements both: batches to `enishi_on_events`, events raised alone to `enishi_on_event`."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    @hookimpl
    def enishi_on_events(self, events):
        self.batches.append([event.type for event in events])


class BatchOnly:
    """Implements only `enishi_on_events`: an event raised alone comes as a list of one."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    @hookimpl
    async def enishi_on_events(self, events, uow):
        self.batches.append([event.type for event in events])


async def test_hook_enishi_on_events(enishi_api):
    one_by_one, both, batch_only = OneByOne(), Both(), BatchOnly()
    api = await enishi_api(plugins=[("onebyone", one_by_one), ("both", both), ("batchonly", batch_only)])
    done = (await graphql_import(api, "a.csv", csv_bytes(ROWS)))["import"]
    assert (done["status"], done["createdCount"]) == ("completed", 3)

    two_accounts, three_created, three_logged = ["account.created"] * 2, ["contact.created"] * 3, ["activity.logged"] * 3
    assert both.batches == [two_accounts, three_created, three_logged]
    assert both.heard == ["import.created", "import.completed"]
    assert one_by_one.heard == ["import.created", *two_accounts, *three_created, *three_logged, "import.completed"]
    assert batch_only.batches == [["import.created"], two_accounts, three_created, three_logged, ["import.completed"]]

    # An activity logged alone: the one-event hook where there is one.
    contact = await create_contact(api, familyName="単独")
    both.batches.clear()
    await api.graphql(LOG, {"id": contact["id"]})
    assert both.heard[-2:] == ["contact.created", "activity.logged"] and both.batches == []
    assert batch_only.batches[-2:] == [["contact.created"], ["activity.logged"]]


@pytest.mark.parametrize("plugins", ["batch", "single"])
async def test_a_veto_on_events_raised_together_rolls_everything_back(enishi_api, plugins):
    """The import's notes vetoed by a plugin, in a batch or one by one: the chunk fails whole."""

    class VetoNotes:
        @hookimpl
        def enishi_on_event(self, event):
            if event.type == "activity.logged":
                raise InputError(UserError(None, "vetoed", "VETOED"))

    class VetoNoteBatches:
        @hookimpl
        def enishi_on_events(self, events):
            if events[0].type == "activity.logged":
                raise InputError(UserError(None, "vetoed", "VETOED"))

    api = await enishi_api(plugins=[("veto", VetoNoteBatches() if plugins == "batch" else VetoNotes())])
    done = (await graphql_import(api, "a.csv", csv_bytes(ROWS)))["import"]
    assert (done["status"], done["createdCount"], done["processed"]) == ("failed", 0, 0)
    assert (await api.graphql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 0
