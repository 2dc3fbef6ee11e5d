"""Console sign-in by a one-time mailed link, and sign-in throttling per account and per client
address (counted in the database: two apps on one database, as two server processes, count together).
The clock is the test's: windows and expiries are crossed by advancing it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy import func, select, text

from enishi.auth import hash_token
from enishi.models import ConsoleSession, ConsoleSignInLink, ThrottleCount, User
from enishi.sign_in_links import LINK_LIFETIME
from enishi.throttle import SIGN_IN_ACCOUNT, SIGN_IN_ADDRESS, SIGN_IN_WINDOW
from enishi.web_sessions import SESSION_LIFETIME
from enishi.worker import scheduled_jobs
from tests.console.conftest import CSRF_FIELD, ConsoleClient, add_user
from tests.console.seed import OFFICER

LINK = re.compile(r"https://crm\.example\.test(/console/sign-in/link\?token=[\w-]+)")
LINK_SENT = "If this address belongs to a console user, a sign-in link is on its way to it."


async def _links(api) -> list[ConsoleSignInLink]:
    async with api.runtime.read_session() as session:
        return list((await session.execute(select(ConsoleSignInLink))).scalars().all())


def _mailed_link(sent_mail, link: ConsoleSignInLink) -> str:
    """The path of the link in the message mailed for `link` (its Message-ID is the link's id)."""
    message = sent_mail()[str(link.id)]
    assert message["To"] == OFFICER[0] and "Sign in to the Enishi console" in message["Subject"]
    found = LINK.search(message.get_content())
    assert found is not None
    return found.group(1)


async def _ask_link(client: ConsoleClient, email: str):
    return await client.post("/console/sign-in/link", {"email": email}, csrf_from="/console/sign-in")


async def _use_link(client: ConsoleClient, path: str):
    token = path.split("token=")[1]
    return await client.post("/console/sign-in/link/use", {"token": token}, csrf_from=path)


async def test_a_mailed_link_signs_in_once_and_only_its_hash_is_kept(api, enishi_sent_mail):
    await add_user(api, OFFICER[0], OFFICER[1], ["compliance"])
    client = ConsoleClient(api)
    asked = await _ask_link(client, OFFICER[0])
    assert asked.status_code == 200 and LINK_SENT in asked.text
    [link] = await _links(api)
    path = _mailed_link(enishi_sent_mail, link)
    token = path.split("token=")[1]
    assert link.token_hash != token and len(link.token_hash) == 64 and link.expires_at - link.created_at == LINK_LIFETIME

    # Opening the link (as a mail scanner would) uses nothing up: only the button's POST does.
    landing = await client.get(path)
    assert landing.status_code == 200 and f'name="token" value="{token}"' in landing.text
    assert (await _links(api))[0].used_at is None
    used = await _use_link(client, path)
    assert used.status_code == 303 and used.headers["location"] == "/console/requests"
    assert (await client.get("/console/requests")).status_code == 200

    again = await _use_link(ConsoleClient(api), path)
    assert again.status_code == 400 and "This sign-in link does not work" in again.text
    assert "enishi_console=" not in str(again.headers)


async def test_asking_for_a_link_answers_alike_for_any_address_and_mails_only_a_console_user(api, enishi_sent_mail):
    await add_user(api, OFFICER[0], OFFICER[1], ["compliance"])
    await add_user(api, "seller@staff.example", "営業", ["sales"])
    await add_user(api, "former@staff.example", "退職者", ["compliance"])
    async with api.runtime.unit_of_work() as uow:
        (await uow.session.execute(select(User).where(User.email == "former@staff.example"))).scalar_one().is_active = False
    before = set(enishi_sent_mail())
    answers = [
        await _ask_link(ConsoleClient(api), email)
        for email in (OFFICER[0], "nobody@staff.example", "seller@staff.example", "former@staff.example")
    ]
    csrf = re.compile(r'value="[\w-]{43}"')
    assert {(a.status_code, csrf.sub("", a.text)) for a in answers} == {(200, csrf.sub("", answers[0].text))}
    [link] = await _links(api)
    assert set(enishi_sent_mail()) - before == {str(link.id)}


async def test_a_link_expires_after_its_lifetime(api, enishi_sent_mail):
    await add_user(api, OFFICER[0], OFFICER[1], ["compliance"])
    client = ConsoleClient(api)
    await _ask_link(client, OFFICER[0])
    [link] = await _links(api)
    api.clock.advance(seconds=LINK_LIFETIME.total_seconds())
    expired = await _use_link(client, _mailed_link(enishi_sent_mail, link))
    assert expired.status_code == 400 and (await client.get("/console/requests")).status_code == 303


async def test_a_link_of_a_user_who_lost_the_console_role_signs_no_one_in(api, enishi_sent_mail):
    await add_user(api, OFFICER[0], OFFICER[1], ["compliance"])
    client = ConsoleClient(api)
    await _ask_link(client, OFFICER[0])
    [link] = await _links(api)
    async with api.runtime.unit_of_work() as uow:
        (await uow.session.execute(select(User).where(User.email == OFFICER[0]))).scalar_one().roles = ["sales"]
    refused = await _use_link(client, _mailed_link(enishi_sent_mail, link))
    assert refused.status_code == 403 and "enishi_console=" not in str(refused.headers)


async def test_wrong_passwords_block_the_account_with_429_until_the_window_ends(api):
    await add_user(api, OFFICER[0], OFFICER[1], ["compliance"])
    await add_user(api, "colleague@staff.example", "同僚", ["compliance"])
    client = ConsoleClient(api)
    for _ in range(SIGN_IN_ACCOUNT.limit - 1):
        assert (await client.sign_in(OFFICER[0], "wrong password here")).status_code == 401
    blocked = await client.sign_in(OFFICER[0], "wrong password here")
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) == SIGN_IN_WINDOW.total_seconds()
    assert "Too many sign-in attempts from this account or this address. Try again after" in blocked.text
    # The right password is not even checked now; a link is not sent either.
    assert (await client.sign_in(OFFICER[0])).status_code == 429
    assert (await _ask_link(client, OFFICER[0])).status_code == 429
    # Another account from the same address is not blocked.
    assert (await ConsoleClient(api).sign_in("colleague@staff.example")).status_code == 303

    api.clock.advance(seconds=SIGN_IN_WINDOW.total_seconds())
    assert (await client.sign_in(OFFICER[0])).status_code == 303
    async with api.runtime.read_session() as session:
        stored = (await session.execute(select(ThrottleCount.key_hash))).scalars().all()
    assert all(OFFICER[0] not in key and "127.0.0.1" not in key for key in stored)  # hashes only
    assert hash_token(f"account:{OFFICER[0]}") not in stored  # keyed: not one anybody can recompute


async def test_signing_in_clears_the_accounts_count(api):
    await add_user(api, OFFICER[0], OFFICER[1], ["compliance"])
    client = ConsoleClient(api)
    for _ in range(SIGN_IN_ACCOUNT.limit - 1):
        await client.sign_in(OFFICER[0], "wrong password here")
    assert (await client.sign_in(OFFICER[0])).status_code == 303
    for _ in range(SIGN_IN_ACCOUNT.limit - 1):
        assert (await ConsoleClient(api).sign_in(OFFICER[0], "wrong password here")).status_code == 401


async def test_one_address_trying_many_accounts_is_blocked_in_every_server_process(enishi_api):
    """Two apps on one database stand for two server processes: the second sees the first's count."""
    first, second = await enishi_api(), await enishi_api()
    await add_user(first, OFFICER[0], OFFICER[1], ["compliance"])
    for number in range(SIGN_IN_ADDRESS.limit - 1):
        assert (await ConsoleClient(first).sign_in(f"guess{number}@staff.example")).status_code == 401
    last_guess = await ConsoleClient(second).sign_in("guess-last@staff.example")
    assert last_guess.status_code == 429
    refused = await ConsoleClient(first).sign_in(OFFICER[0])
    assert refused.status_code == 429 and "enishi_console=" not in str(refused.headers)
    assert (await _ask_link(ConsoleClient(second), OFFICER[0])).status_code == 429


async def test_wrong_links_count_against_the_address(api):
    client = ConsoleClient(api)
    for number in range(SIGN_IN_ADDRESS.limit - 1):
        assert (await _use_link(client, f"/console/sign-in/link?token=guess{number}")).status_code == 400
    assert (await _use_link(client, "/console/sign-in/link?token=guess-last")).status_code == 400
    assert (await _use_link(client, "/console/sign-in/link?token=one-more")).status_code == 429


async def _rows(api, model, live: bool) -> int:
    """How many rows of `model` are live (not yet expired) or expired, by the test clock."""
    ends = ThrottleCount.window_ends_at if model is ThrottleCount else model.expires_at
    now = api.clock.now()
    async with api.runtime.read_session() as session:
        return (
            await session.execute(select(func.count()).select_from(model).where(ends > now if live else ends <= now))
        ).scalar_one()


async def test_the_daily_job_deletes_expired_counts_sessions_and_links_and_keeps_live_ones(api, enishi_sent_mail):
    await add_user(api, OFFICER[0], OFFICER[1], ["compliance"])
    yesterday = ConsoleClient(api)
    await yesterday.sign_in("someone@staff.example", "wrong password here")  # counted for that account and the address
    await _ask_link(yesterday, OFFICER[0])
    assert (await yesterday.sign_in(OFFICER[0])).status_code == 303
    api.clock.advance(seconds=SESSION_LIFETIME.total_seconds())  # the session, the link and the counts expire
    today = ConsoleClient(api)
    await _ask_link(today, OFFICER[0])
    assert (await today.sign_in(OFFICER[0])).status_code == 303
    expired = [await _rows(api, model, live=False) for model in (ThrottleCount, ConsoleSession, ConsoleSignInLink)]
    assert all(expired), expired

    [job] = [job for job in scheduled_jobs(api.runtime) if job.name == "core.purge_expired"]
    assert job.interval == dt.timedelta(days=1)
    await job.run(api.runtime)
    assert [await _rows(api, model, live=False) for model in (ThrottleCount, ConsoleSession, ConsoleSignInLink)] == [0, 0, 0]
    assert [await _rows(api, model, live=True) for model in (ThrottleCount, ConsoleSession, ConsoleSignInLink)] == [1, 1, 1]
    assert (await today.get("/console/requests")).status_code == 200  # the live session still works


@contextlib.asynccontextmanager
async def _holding_the_redemption(api, link_id) -> AsyncIterator[Callable[[int], Awaitable[None]]]:
    """Holds what using a link must wait for: on PostgreSQL the link's row, locked in a transaction
    of the test's; on SQLite the one writer slot, by a unit of work of the test's. Yields a wait for
    `count` redemptions to be stuck behind it; releases it on leaving."""
    if api.runtime.engine.dialect.name == "postgresql":
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database() "
            "AND query LIKE 'UPDATE core_console_sign_in_link%'"
        )

        async def stuck(count: int) -> None:
            while True:
                async with api.runtime.read_session() as session:
                    if (await session.execute(waiting)).scalar_one() >= count:
                        return
                await asyncio.sleep(0.01)

        async with api.runtime.engine.connect() as holder, holder.begin():
            locking = text("SELECT id FROM core_console_sign_in_link WHERE id = :id FOR UPDATE")
            await holder.execute(locking, {"id": link_id})
            yield stuck
        return

    # SQLite: the test's own unit of work holds the one writer slot; every redemption's unit of
    # work (the use of a link opens one, once past every check) is counted as it opens. Nothing is
    # awaited between the count and the slot's lock, so a redemption counted is a redemption
    # queued behind the test's.
    opened = asyncio.Condition()
    entered = 0
    unit_of_work = api.runtime.unit_of_work

    @contextlib.asynccontextmanager
    async def counted(actor_id=None):
        nonlocal entered
        async with opened:
            entered += 1
            opened.notify_all()
        async with unit_of_work(actor_id) as uow:
            yield uow

    async def queued(count: int) -> None:
        async with opened:
            await opened.wait_for(lambda: entered >= count)

    async with unit_of_work():
        api.runtime.unit_of_work = counted
        try:
            yield queued
        finally:
            del api.runtime.unit_of_work  # the runtime's own method again


async def test_one_link_used_twice_at_once_signs_in_exactly_once(api, enishi_sent_mail):
    await add_user(api, OFFICER[0], OFFICER[1], ["compliance"])
    await _ask_link(ConsoleClient(api), OFFICER[0])
    [link] = await _links(api)
    path = _mailed_link(enishi_sent_mail, link)
    # Two browsers on the link's page, each with its own form token, press the button at once.
    browsers = [ConsoleClient(api), ConsoleClient(api)]
    forms = []
    for browser in browsers:
        page = await browser.get(path)
        forms.append({"csrf": CSRF_FIELD.search(page.text).group(1), "token": path.split("token=")[1]})
    async with _holding_the_redemption(api, link.id) as stuck:
        uses = [asyncio.create_task(b.post("/console/sign-in/link/use", form)) for b, form in zip(browsers, forms, strict=True)]
        await stuck(2)  # both came past every check and wait to use the link up
    answers = await asyncio.gather(*uses)
    assert sorted(answer.status_code for answer in answers) == [303, 400]
    async with api.runtime.read_session() as session:
        assert (await session.execute(select(func.count()).select_from(ConsoleSession))).scalar_one() == 1
    signed_in = [browser for browser, answer in zip(browsers, answers, strict=True) if answer.status_code == 303]
    assert [(await browser.get("/console/requests")).status_code for browser in browsers] == [
        200 if browser in signed_in else 303 for browser in browsers
    ]
