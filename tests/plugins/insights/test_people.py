"""Scores are inferred personal data: exported with the person, not portable, erased with them;
merged customers are scored again as one."""

import base64
import uuid

from enishi.plugin import DataSubject
from enishi.worker import run_due_jobs
from tests.helpers import count_rows, create_contact
from tests.plugins.insights.helpers import buy, rfm_of


def _raw(global_id: str) -> uuid.UUID:
    return uuid.UUID(base64.b64decode(global_id).decode().split(":")[1])


async def test_scores_are_exported_with_the_person_and_erased_with_them(api):
    person = (await create_contact(api, familyName="山田"))["id"]
    await buy(api, person, 5000, days_ago=3)
    exported = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { personalData } } }", {"id": person}, role="compliance"
    )
    assert exported["node"]["personalData"]["insights"]["rfm"]["score"] == "111"  # alone: nobody is worse
    async with api.runtime.unit_of_work() as uow:
        reports = dict(await api.runtime.plugins.call("enishi_subject_erase", uow=uow, subject=DataSubject(_raw(person))))
    assert reports["insights"].affected == {
        "insights_rfm:delete": 1,
        "insights_survey_answer:delete": 0,
        "insights_survey_answer:anonymise": 0,
        "insights_health:delete": 1,
        "insights_segment_member:delete": 0,
    }
    assert await count_rows(api, "insights_rfm") == 0
    await run_due_jobs(api.runtime)  # the kept purchase, no longer naming anyone, is scored for nobody
    assert await count_rows(api, "insights_rfm") == 0
    catalog = await api.graphql("{ personalDataCatalog { entity field portable } }", role="compliance")
    fields = {(c["field"], c["portable"]) for c in catalog["personalDataCatalog"] if c["entity"] == "insights_rfm"}
    assert ("segment", False) in fields and ("contact_id", False) in fields


async def test_merging_contacts_scores_the_survivor_on_both_histories(api):
    survivor, duplicate = (
        (await create_contact(api, familyName="佐藤"))["id"],
        (await create_contact(api, familyName="佐藤"))["id"],
    )
    await buy(api, survivor, 1000, days_ago=100)
    await buy(api, duplicate, 4000, days_ago=2)
    merged = await api.mutate(
        "mergeContacts", {"survivorId": survivor, "mergedIds": [duplicate]}, "moves { plugin entity count }"
    )
    assert {"plugin": "insights", "entity": "insights_rfm", "count": 1} in merged["moves"]
    assert (await rfm_of(api, survivor))["frequency"] == 2 and (await rfm_of(api, survivor))["monetary"] == 5000
    assert await count_rows(api, "insights_rfm") == 1
