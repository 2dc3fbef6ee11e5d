"""A failing step's whole transaction rolls back — what it wrote before failing and what its
effect's own writes were refused for — and the failure is logged in a transaction of its own,
unless the run moved on in between (here: cancelled by someone waiting for its lock)."""

import asyncio

import pytest
from sqlalchemy import func, select

from enishi.db import is_sqlite
from enishi.plugin import InputError, UnitOfWork, UserError, WorkflowStep, WorkflowStepType, hookimpl
from enishi.plugins.automation import workflow_engine
from enishi.plugins.automation.workflow_models import AutomationRecordTag
from enishi.worker import deliver_waiting_events
from tests.helpers import backends_waiting_on_a_lock, create_account
from tests.plugins.automation.workflow_helpers import create_workflow, runs, work


class HalfDone:
    """A plugin whose step tags the record, then fails: by raising (`raise`), or by tagging it
    twice, which the tags' unique key refuses when the step's writes are flushed (`twice`). The
    first attempt may be held after its tag (`hold`)."""

    def __init__(self) -> None:
        self.inside, self.release = asyncio.Event(), asyncio.Event()
        self.held = False

    async def _run(self, uow: UnitOfWork, step: WorkflowStep) -> dict:
        tag = {"entity": step.entity, "record_id": step.record_id, "created_at": uow.clock.now()}
        uow.session.add(AutomationRecordTag(tag="half", **tag))
        if step.params["fail"] == "twice":
            uow.session.add(AutomationRecordTag(tag="half", **tag))
            return {}
        if step.params.get("hold") and not self.held:
            self.held = True
            self.inside.set()
            await self.release.wait()
        raise InputError(UserError("record", "not this time", "NOT_NOW"))

    @hookimpl
    def enishi_workflow_step_types(self):
        parameters = {"fail": {"enum": ["raise", "twice"]}, "hold": {"type": "boolean"}}
        return [WorkflowStepType("halfdone.tag", "Tags, then fails.", self._run, parameters, required=("fail",))]


def _half_done_on_new_accounts(**params) -> dict:
    return {
        "trigger": {"type": "event", "event": "account.created"},
        "steps": [{"id": "tag", "type": "halfdone.tag", **params}],
    }


async def _tags(api) -> int:
    async with api.runtime.read_session() as session:
        return (await session.execute(select(func.count()).select_from(AutomationRecordTag))).scalar_one()


@pytest.mark.parametrize(("fail", "error"), [("raise", "record: NOT_NOW"), ("twice", "IntegrityError")])
async def test_a_failing_steps_writes_roll_back_and_its_failure_is_logged_with_a_retry(enishi_api, fail, error):
    api = await enishi_api(plugins=[("halfdone", HalfDone())])
    await create_workflow(api, _half_done_on_new_accounts(fail=fail))
    await create_account(api, name="株式会社ナカバ")
    await work(api)
    [run] = await runs(api)
    assert run["status"] == "PENDING" and run["attempts"] == 1 and run["error"] == error
    assert [(s["stepId"], s["attempt"], s["status"], s["error"]) for s in run["steps"]] == [("tag", 1, "FAILED", error)]
    assert await _tags(api) == 0  # the tag written before the failure rolled back with it


async def test_a_failure_is_not_logged_over_a_run_cancelled_while_it_rolled_back(enishi_api):
    half_done = HalfDone()
    api = await enishi_api(plugins=[("halfdone", half_done)])
    if is_sqlite(api.runtime.settings.database_url):
        pytest.skip("SQLite writes one transaction at a time: no cancel can wait on the step's row lock")
    await create_workflow(api, _half_done_on_new_accounts(fail="raise", hold=True))
    await create_account(api, name="株式会社トリケシ")
    await deliver_waiting_events(api.runtime)  # the outbox starts the run
    [run] = await runs(api)
    stepping = asyncio.create_task(workflow_engine.run_due(api.runtime))
    await half_done.inside.wait()  # the step has tagged, the run's row locked
    cancelling = asyncio.create_task(api.mutate("cancelWorkflowRun", {"id": run["id"]}, "run { status }"))
    async with api.runtime.engine.connect() as connection:
        while not await backends_waiting_on_a_lock(connection):  # noqa: ASYNC110 - the database is polled, no event to await
            await asyncio.sleep(0.01)
    # The step fails: its rollback hands the row's lock to the waiting cancel before the failure
    # is logged, and the log finds the run no longer where the step left it.
    half_done.release.set()
    assert (await cancelling)["run"] == {"status": "CANCELLED"}
    assert await stepping == 1
    [run] = await runs(api)
    assert run["status"] == "CANCELLED" and run["steps"] == [] and run["attempts"] == 0
    assert await _tags(api) == 0
