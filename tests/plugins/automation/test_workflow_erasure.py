"""A data subject's erasure over GraphQL, in the workflows' log: the runs stay (the admins' audit)
but none names the person any more — not as the run's record, not in the payload of a run about
their activity or purchase, not in a step's log — a run still waiting for them is cancelled, and
the tags put on them are gone."""

from enishi.plugin import DataSubject
from tests.helpers import create_account, log_activity, table_hits
from tests.plugins.automation.test_workflow_email import ON_NEW_ACCOUNT, _person
from tests.plugins.automation.workflow_helpers import create_workflow, runs, work
from tests.plugins.insights.helpers import buy
from tests.plugins.privacy.helpers import intake, raw_id, run_request

TAG_THEN_WAIT = {
    "trigger": {"type": "event", "event": "contact.updated"},
    "steps": [
        {"id": "mark", "type": "add_tag", "tag": "vip"},
        {"id": "later", "type": "wait", "duration": {"days": 3}},
        {"id": "mark_again", "type": "add_tag", "tag": "followed"},
    ],
}


ON_ACTIVITY = {
    "trigger": {"type": "event", "event": "activity.logged"},
    "steps": [{"id": "pause", "type": "wait", "duration": {"days": 1}}],
}
ON_PURCHASE = {**ON_ACTIVITY, "trigger": {"type": "event", "event": "purchase.recorded"}}


async def _touch(api, contact_id: str) -> None:
    updated = await api.mutate("updateContact", {"id": contact_id, "jobTitle": "部長"}, "userErrors { code }")
    assert updated["userErrors"] == [], updated


async def test_erasure_detaches_the_person_from_runs_and_step_logs_and_keeps_the_counts(api):
    tagging = await create_workflow(api, TAG_THEN_WAIT, name="タグ付け")
    mailing = await create_workflow(api, ON_NEW_ACCOUNT, name="歓迎メール")
    account = await create_account(api, name="縁商事")
    yamada = await _person(api, "yamada", account_id=account["id"])
    suzuki = await _person(api, "suzuki", account_id=account["id"], marketing=False)
    await _touch(api, yamada)
    await _touch(api, suzuki)
    on_activity = await create_workflow(api, ON_ACTIVITY, name="活動")
    on_purchase = await create_workflow(api, ON_PURCHASE, name="購入")
    await log_activity(api, contactIds=[yamada, suzuki])
    await buy(api, yamada, 5000)
    await buy(api, suzuki, 7000)
    for _ in range(3):
        await work(api)
    person, other = str(raw_id(yamada)), str(raw_id(suzuki))
    [meeting] = await runs(api, on_activity["id"])
    assert sorted(meeting["payload"]["contact_ids"]) == sorted([person, other])
    assert sorted(run["payload"]["contact_id"] for run in await runs(api, on_purchase["id"])) == sorted([person, other])
    tagged = {run["recordId"]: run["status"] for run in await runs(api, tagging["id"])}
    assert tagged == {person: "PENDING", other: "PENDING"}  # waiting three days
    assert person in str(await runs(api, mailing["id"]))  # the mail step's log names its recipients

    erasure = await intake(api, yamada, "erasure")
    done = await run_request(api, erasure["id"])
    assert done["status"] == "completed", done
    [automation] = [r for r in done["runs"] if r["plugin"] == "automation"]
    assert automation["affected"] == {
        "automation_workflow_run:anonymise": 3,  # their tagging run, the activity's and their purchase's
        "automation_workflow_step:anonymise": 2,  # the tag's step, the mail's step
        "automation_record_tag:delete": 1,
        "automation_contact_send:delete": 1,
    }

    tagged_runs = await runs(api, tagging["id"])
    assert sorted((run["recordId"] or "", run["status"]) for run in tagged_runs) == sorted(
        [("", "CANCELLED"), (other, "PENDING")]
    )
    [detached] = [run for run in tagged_runs if run["recordId"] is None]
    assert [(s["stepId"], s["status"]) for s in detached["steps"]] == [("mark", "SUCCEEDED"), ("later", "SUCCEEDED")]
    assert detached["steps"][0]["input"] == {"entity": "contact", "record_id": None, "tag": "vip"}
    [mail] = await runs(api, mailing["id"])
    [step] = mail["steps"]
    # The count stays, and the other person with it.
    assert step["output"]["sent"] == 1
    assert sorted(map(str, step["input"]["contact_ids"])) == sorted(["None", other])
    assert sorted((str(r["contact_id"]), r.get("skipped")) for r in step["output"]["recipients"]) == sorted(
        [("None", None), (other, "no_consent")]
    )
    [meeting] = await runs(api, on_activity["id"])
    assert sorted(map(str, meeting["payload"]["contact_ids"])) == sorted(["None", other])
    purchases = await runs(api, on_purchase["id"])
    assert sorted(str(run["payload"]["contact_id"]) for run in purchases) == sorted(["None", other])
    assert {table for table in await table_hits(api.runtime, [person]) if table.startswith("automation_")} == set()

    api.clock.advance(days=4)  # only the other person's run takes its last step
    await work(api)
    finished = {run["recordId"]: run["status"] for run in await runs(api, tagging["id"])}
    assert finished == {None: "CANCELLED", other: "SUCCEEDED"}

    async with api.runtime.unit_of_work() as uow:  # a second call (after a crash) finds nothing left
        reports = dict(await api.runtime.plugins.call("enishi_subject_erase", uow=uow, subject=DataSubject(raw_id(yamada))))
    assert set(reports["automation"].affected.values()) == {0}
