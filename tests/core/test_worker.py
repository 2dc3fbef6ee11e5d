"""`enishi worker`: `--once` runs every job now, due or not; the long-running worker delivers
waiting mail within a tick, not at the outbox job's next interval."""

import asyncio

from sqlalchemy import select

from enishi.models import JobRun
from enishi.worker import run_forever
from tests.core.test_cli import enishi
from tests.helpers import create_contact


async def _request_access(api, email: str) -> None:
    response = await api.client.post("/privacy/requests", json={"type": "access", "email": email})
    assert response.status_code == 202, response.text


def _recipients(sent_mail, before: set) -> list[str]:
    return sorted(message["To"] for key, message in sent_mail().items() if key not in before)


async def test_worker_once_after_each_request_mails_each_code_and_runs_jobs_that_ran_moments_ago(
    enishi_api, enishi_fresh_migrated, enishi_base_settings, enishi_sent_mail
):
    api = await enishi_api(database_url=enishi_fresh_migrated)
    env = {
        "ENISHI_DATABASE_URL": enishi_fresh_migrated,
        "ENISHI_KEK": enishi_base_settings.key_encryption_key,
        "ENISHI_MAIL_URL": enishi_base_settings.mail_url,
    }
    before = set(enishi_sent_mail())
    for n in (1, 2):
        await create_contact(api, familyName=f"依頼者{n}", emails=[{"address": f"subject{n}@example.jp"}])
    await _request_access(api, "subject1@example.jp")
    first = await asyncio.to_thread(enishi, "worker", "--once", env=env)
    assert _recipients(enishi_sent_mail, before) == ["subject1@example.jp"]
    await _request_access(api, "subject2@example.jp")  # seconds later: well within the outbox job's interval
    second = await asyncio.to_thread(enishi, "worker", "--once", env=env)
    assert _recipients(enishi_sent_mail, before) == ["subject1@example.jp", "subject2@example.jp"]
    for ran in (first.stdout, second.stdout):  # a daily job (held erasures) too, though it ran a moment before
        assert "privacy.finish_held_erasures" in ran and "core.outbox" in ran, ran


async def test_the_running_worker_delivers_new_mail_within_a_tick_not_at_the_next_round(enishi_api, enishi_sent_mail):
    api = await enishi_api()
    await create_contact(api, familyName="依頼者", emails=[{"address": "subject@example.jp"}])
    before = set(enishi_sent_mail())
    # The test clock stands still: after the first round no job is ever due again, so only the
    # outbox tick can deliver the mail of a request made after it.
    worker = asyncio.create_task(run_forever(api.runtime, poll_seconds=3600, tick_seconds=0.01))
    try:
        while "core.outbox" not in await _finished_jobs(api):  # noqa: ASYNC110 - the worker's progress is in the database
            await asyncio.sleep(0.01)
        await _request_access(api, "subject@example.jp")

        async def delivered():
            while not _recipients(enishi_sent_mail, before):  # noqa: ASYNC110 - the mail is written by the worker task
                await asyncio.sleep(0.01)

        await asyncio.wait_for(delivered(), timeout=120)  # a guard against hanging, not a speed limit
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert _recipients(enishi_sent_mail, before) == ["subject@example.jp"]


async def _finished_jobs(api) -> set[str]:
    async with api.runtime.read_session() as session:
        return set((await session.execute(select(JobRun.name).where(JobRun.finished_at.is_not(None)))).scalars())
