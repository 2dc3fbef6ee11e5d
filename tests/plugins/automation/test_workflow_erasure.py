"""A data subject's erasure over GraphQL, in the workflows' log: the runs stay (the admins' audit)
but none names the person any more — not as the run's record, not in the payload of a run about
their activity, purchase, survey answer or segment entry, not in a step's log, sent or skipped —
a run still waiting for them or started by what they did is cancelled, and the tags put on them
are gone."""

from enishi.plugin import DataSubject
from enishi.plugins.automation.workflow_engine import run_due
from enishi.worker import deliver_waiting_events
from tests.helpers import count_rows, create_account, create_contact, log_activity, table_hits
from tests.plugins.automation.test_workflow_email import ON_NEW_ACCOUNT, STEP, _person
from tests.plugins.automation.test_workflow_step_failures import HalfDone
from tests.plugins.automation.workflow_helpers import DORMANT_DAYS, create_workflow, dormant_segment, runs, work
from tests.plugins.insights.helpers import buy
from tests.plugins.insights.test_surveys import answered, survey
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

    # Their access request shows the same runs their erasure will detach, and nothing of the other's.
    query = "query($id: ID!) { node(id: $id) { ... on Contact { personalData } } }"
    exported = (await api.graphql(query, {"id": yamada}, role="compliance"))["node"]["personalData"]["automation"]
    shown = sorted((r["workflow"], r["trigger"], r["status"], [s["step"] for s in r["steps"]]) for r in exported["workflow_runs"])
    assert shown == [
        ("タグ付け", "contact.updated", "pending", ["mark", "later"]),
        ("歓迎メール", "account.created", "succeeded", ["welcome"]),
        ("活動", "activity.logged", "succeeded", ["pause"]),
        ("購入", "purchase.recorded", "succeeded", ["pause"]),
    ]
    assert other not in str(exported) and person not in str(exported)

    erasure = await intake(api, yamada, "erasure")
    done = await run_request(api, erasure["id"])
    assert done["status"] == "completed", done
    [automation] = [r for r in done["runs"] if r["plugin"] == "automation"]
    assert automation["affected"] == {
        "automation_workflow_run:anonymise": 3,  # their tagging run, the activity's and their purchase's
        "automation_workflow_step:anonymise": 2,  # the tag's step, the mail's step
        "automation_record_tag:delete": 1,
        "automation_contact_send:delete": 1,
        "automation_workflow_person:delete": 2,  # the activity's and the purchase's runs (the mail's: its send)
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


async def _erase(api, contact_id: str) -> dict:
    """The person's erasure over GraphQL; the automation plugin's part of its report."""
    done = await run_request(api, (await intake(api, contact_id, "erasure"))["id"])
    assert done["status"] == "completed", done
    [automation] = [r for r in done["runs"] if r["plugin"] == "automation"]
    return automation["affected"]


async def _automation_tables_naming(api, contact_id: str) -> set[str]:
    return {table for table in await table_hits(api.runtime, [str(raw_id(contact_id))]) if table.startswith("automation_")}


async def test_a_skipped_recipient_is_erased_from_the_step_log_of_a_run_that_mailed_only_others(api):
    """A recipient skipped (no consent, no address) has no send naming the run: the run is found
    through the index of the people its step logged."""
    mailing = await create_workflow(api, ON_NEW_ACCOUNT, name="歓迎メール")
    account = await create_account(api, name="縁商事")
    unwilling = await _person(api, "tanaka", account_id=account["id"], marketing=False)
    unreachable = await _person(api, "kato", account_id=account["id"], email=False)
    willing = await _person(api, "suzuki", account_id=account["id"])
    await work(api)
    [run] = await runs(api, mailing["id"])
    assert sorted((r["contact_id"], r.get("skipped")) for r in run["steps"][0]["output"]["recipients"]) == sorted(
        [(str(raw_id(unwilling)), "no_consent"), (str(raw_id(unreachable)), "no_email"), (str(raw_id(willing)), None)]
    )

    for person in (unwilling, unreachable):
        affected = await _erase(api, person)
        assert affected["automation_workflow_step:anonymise"] == 1, affected
        assert await _automation_tables_naming(api, person) == set()
    [run] = await runs(api, mailing["id"])
    assert run["status"] == "SUCCEEDED"
    [step] = run["steps"]
    assert sorted((str(r["contact_id"]), r.get("skipped")) for r in step["output"]["recipients"]) == sorted(
        [("None", "no_consent"), ("None", "no_email"), (str(raw_id(willing)), None)]
    )
    assert step["output"]["sent"] == 1 and sorted(map(str, step["input"]["contact_ids"])) == sorted(
        ["None", "None", str(raw_id(willing))]
    )


async def test_a_recipient_whose_send_was_withdrawn_at_delivery_is_erased_from_the_step_log(api):
    """The step mailed them, but their address was gone when the outbox delivered: the send stops
    counting against the cap (deleted), the step's log still names them as sent — indexed then."""
    mailing = await create_workflow(api, ON_NEW_ACCOUNT, name="歓迎メール")
    account = await create_account(api, name="縁商事")
    person = await _person(api, "yamada", account_id=account["id"])
    await deliver_waiting_events(api.runtime)  # the run starts
    await run_due(api.runtime)  # the step sends: its mail's event is queued
    removed = await api.mutate("updateContact", {"id": person, "emails": []}, "userErrors { code }")
    assert removed["userErrors"] == [], removed
    await deliver_waiting_events(api.runtime)  # no address now: not sent after all
    assert await count_rows(api, "automation_contact_send") == 0
    [run] = await runs(api, mailing["id"])
    assert run["steps"][0]["output"]["recipients"] == [{"contact_id": str(raw_id(person))}]

    affected = await _erase(api, person)
    assert (affected["automation_workflow_step:anonymise"], affected["automation_workflow_person:delete"]) == (1, 1)
    assert await _automation_tables_naming(api, person) == set()
    [run] = await runs(api, mailing["id"])
    assert run["steps"][0]["output"] == {"recipients": [{"contact_id": None}], "sent": 1}


def _waiting(days: int) -> list[dict]:
    """A wait, and a step after it: the run is pending until the wait is over."""
    return [{"id": "pause", "type": "wait", "duration": {"days": days}}, {"id": "done", "type": "stop"}]


async def test_runs_started_by_a_survey_answer_or_a_segment_entry_no_longer_name_the_person(api, enishi_sent_mail):
    """Other events' payloads naming a contact (`survey.answered`, `insights.segment_entered` as an
    event trigger: the run is about the answer or the segment, not the person): found through the
    fields their event types declare `names_contact`; pending, they are cancelled."""
    await create_workflow(api, {"trigger": {"type": "event", "event": "survey.answered"}, "steps": _waiting(90)})
    await create_workflow(
        api, {"trigger": {"type": "event", "event": "insights.segment_entered"}, "steps": _waiting(90)}, name="セグメント"
    )
    nps = await survey(api, "NPS")
    person = await answered(api, enishi_sent_mail, nps, "yamada", 9)
    other = await answered(api, enishi_sent_mail, nps, "suzuki", 3)
    segment = await dormant_segment(api)
    api.clock.advance(days=DORMANT_DAYS + 1)  # their answers were their last activity
    evaluated = await api.mutate("evaluateSegment", {"id": segment}, "entered", role="marketing")
    assert evaluated["userErrors"] == [] and evaluated["entered"] == 2, evaluated
    await work(api)
    started = {(run["eventType"], run["payload"]["contact_id"]): run["status"] for run in await runs(api)}
    everyone = [str(raw_id(person)), str(raw_id(other))]
    assert started == {(kind, who): "PENDING" for kind in ("survey.answered", "insights.segment_entered") for who in everyone}

    affected = await _erase(api, person)
    assert affected["automation_workflow_run:anonymise"] == 2, affected
    assert affected["automation_workflow_person:delete"] == 2, affected
    assert await _automation_tables_naming(api, person) == set()
    left = sorted((run["eventType"], str(run["payload"]["contact_id"]), run["status"]) for run in await runs(api))
    assert left == sorted(
        (kind, who, status)
        for kind in ("survey.answered", "insights.segment_entered")
        for who, status in (("None", "CANCELLED"), (str(raw_id(other)), "PENDING"))
    )


MAIL_AFTER_PURCHASE = {
    "trigger": {"type": "event", "event": "purchase.recorded"},
    "steps": [_waiting(1)[0], {**STEP, "id": "thanks", "to": "contact", "subject": "ご購入ありがとうございます"}],
}


async def test_a_pending_run_about_the_persons_purchase_is_cancelled_and_takes_no_further_step(api):
    """Its next step would mail the purchase's contact: the core's part of the erasure unlinks the
    purchase, but in a transaction of its own, run last; a run left pending would find them there."""
    thanking = await create_workflow(api, MAIL_AFTER_PURCHASE, name="購入御礼")
    person = await _person(api, "yamada")
    other = await _person(api, "suzuki")
    await buy(api, person, 5000)
    await buy(api, other, 7000)
    await work(api)
    assert [run["status"] for run in await runs(api, thanking["id"])] == ["PENDING", "PENDING"]

    assert (await _erase(api, person))["automation_workflow_run:anonymise"] == 1
    api.clock.advance(days=2)
    await work(api)
    done = {str(run["payload"]["contact_id"]): (run["status"], [s["stepId"] for s in run["steps"]]) for run in await runs(api)}
    assert done == {"None": ("CANCELLED", ["pause"]), str(raw_id(other)): ("SUCCEEDED", ["pause", "thanks"])}
    assert await _automation_tables_naming(api, person) == set()


async def test_between_this_part_and_the_cores_the_cancelled_run_cannot_log_the_person_again(api):
    """The window itself, through the hook API: the person taken out of use (as the privacy plugin
    does first), this plugin's part done, the core's not yet — the purchase still names them."""
    await create_workflow(api, MAIL_AFTER_PURCHASE, name="購入御礼")
    person = await _person(api, "yamada")
    await buy(api, person, 5000)
    await work(api)
    deleted = await api.mutate("deleteContact", {"id": person}, "userErrors { code }")
    assert deleted["userErrors"] == [], deleted
    plugins = api.runtime.plugins
    [automation] = [i for i in plugins.implementations("enishi_subject_erase") if i.plugin_name == "automation"]
    async with api.runtime.unit_of_work() as uow:
        await plugins.call_one(automation, uow=uow, subject=DataSubject(raw_id(person)))
    api.clock.advance(days=2)
    await work(api)
    assert await _automation_tables_naming(api, person) == set()


async def test_a_step_naming_the_contact_of_a_run_about_a_task_is_erased_from_its_log(api):
    """A run about a task names the task's contact only in its step's log (a follow-up activity
    for `contact_id`): the engine indexes it, so the erasure finds the run."""
    follow_up = {
        "trigger": {"type": "event", "event": "task.created"},
        "steps": [
            {
                "id": "note",
                "type": "create_activity",
                "activity_type": "note",
                "summary": "フォロー",
                "contact": {"field": "contact_id"},
            }
        ],
    }
    await create_workflow(api, follow_up, name="タスクのフォロー")
    person = await create_contact(api, familyName="小林")
    made = await api.mutate("createTask", {"title": "電話", "contactId": person["id"]}, "task { id }")
    assert made["userErrors"] == [], made
    await work(api)
    [run] = await runs(api)
    assert run["status"] == "SUCCEEDED" and run["steps"][0]["input"]["contact_id"] == str(raw_id(person["id"]))

    assert (await _erase(api, person["id"]))["automation_workflow_step:anonymise"] == 1
    assert await _automation_tables_naming(api, person["id"]) == set()
    [run] = await runs(api)
    assert run["steps"][0]["input"]["contact_id"] is None


async def test_a_failed_run_about_the_person_is_cancelled_so_no_retry_by_hand_takes_it_up(enishi_api):
    api = await enishi_api(plugins=[("halfdone", HalfDone())])
    failing = {
        "trigger": {"type": "event", "event": "contact.updated"},
        "steps": [{"id": "tag", "type": "halfdone.tag", "fail": "raise"}],
    }
    await create_workflow(api, failing, name="失敗する")
    person = await create_contact(api, familyName="中村")
    await _touch(api, person["id"])
    for _ in range(6):  # the first attempt and four retries, each after its backoff
        await work(api)
        api.clock.advance(hours=3)
    [run] = await runs(api)
    assert run["status"] == "FAILED" and run["attempts"] == 5

    await _erase(api, person["id"])
    [run] = await runs(api)
    assert run["status"] == "CANCELLED" and run["recordId"] is None
    retried = await api.mutate("retryWorkflowRun", {"id": run["id"]}, "run { status }")
    assert retried["run"] is None and retried["userErrors"][0]["code"] == "NOT_FAILED"
