"""pytest fixtures for Enishi and for plugin authors (registered as the `enishi` pytest plugin
through the `pytest11` entry point: installing Enishi makes them available, nothing to import).

Set `ENISHI_TEST_DATABASE_URL` to run against PostgreSQL; the default is a throw-away SQLite
file. The schema (the core's and every installed plugin's migrations) is migrated once per
session and every table is emptied after each test. Tests are `async def` under pytest-asyncio
(`asyncio_mode = "auto"`). docs/testing-plugins.md is the guide.

    async def test_my_field(enishi_api):
        api = await enishi_api()  # every installed plugin, yours included once pip-installed
        data = await api.graphql("{ viewer { id } }", role="sales")
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from sqlalchemy import make_url, text

from .clock import ManualClock, SimulatedClock
from .db import Base, is_sqlite
from .settings import Settings

if TYPE_CHECKING:
    import httpx
    from strawberry import Schema

    from .runtime import Runtime

TEST_START = dt.datetime(2024, 6, 10, 0, 0, tzinfo=dt.UTC)  # Monday 09:00 in Tokyo


@pytest.fixture(scope="session")
def enishi_database_url(tmp_path_factory, request) -> str:
    """The session's shared database: `ENISHI_TEST_DATABASE_URL` (a PostgreSQL URL such as
    `postgresql+asyncpg://user:password@localhost/enishi_test`, whose `public` schema the session
    drops and rebuilds), else a SQLite file in a temporary folder.

    Under pytest-xdist (`pytest -n 2`) each worker process is a session of its own: on PostgreSQL it
    gets its own database next to the named one (`enishi_test_gw0`, created afresh), since the
    workers' sessions would otherwise rebuild and empty each other's tables."""
    url = os.environ.get("ENISHI_TEST_DATABASE_URL")
    if not url:
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('enishi')}/test.db"
    # The worker's own configuration says it is one (the environment variable would also be seen
    # by a pytest this session runs in a subprocess, as the scaffold test does).
    worker = getattr(request.config, "workerinput", {}).get("workerid")
    if worker is None:
        return url
    if is_sqlite(url):
        raise pytest.UsageError("a SQLite ENISHI_TEST_DATABASE_URL cannot be shared by pytest-xdist workers; leave it unset")
    named = make_url(url)
    worker_database = f"{named.database}_{worker}"
    asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{worker_database}" WITH (FORCE)'))
    asyncio.run(_admin(url, f'CREATE DATABASE "{worker_database}"'))
    return named.set(database=worker_database).render_as_string(hide_password=False)


async def _admin(url: str, statement: str) -> None:
    from .db import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@contextlib.contextmanager
def new_database(kind: str, sqlite_file: Path, template: str | None = None):
    """A new database of `kind`'s (a SQLite file at `sqlite_file`, or a database on `kind`'s
    PostgreSQL server), a copy of the database at `template` when given; dropped afterwards."""
    if is_sqlite(kind):
        if template is not None:
            # Through SQLite's backup API rather than a file copy: it reads a consistent database
            # whatever its journal holds.
            with (
                contextlib.closing(sqlite3.connect(str(make_url(template).database))) as source,
                contextlib.closing(sqlite3.connect(sqlite_file)) as target,
            ):
                source.backup(target)
        yield f"sqlite+aiosqlite:///{sqlite_file}"
        return
    name = f"enishi_{uuid.uuid4().hex[:12]}"
    copy_of = "" if template is None else f' TEMPLATE "{make_url(template).database}"'
    asyncio.run(_admin(kind, f'CREATE DATABASE "{name}"{copy_of}'))
    yield make_url(kind).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(kind, f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture
def enishi_fresh_database_url(enishi_database_url, tmp_path):
    """The URL of a new, empty database of the kind under test, dropped after the test: for
    `enishi db upgrade` and server processes (`enishi_server`) that must not share the session's."""
    with new_database(enishi_database_url, tmp_path / "fresh.db") as url:
        yield url


@pytest.fixture(scope="session")
def enishi_migrated_template(enishi_database_url, enishi_base_settings, tmp_path_factory):
    """The URL of a database holding every migration, made once per session (per pytest-xdist
    worker) for `enishi_fresh_migrated` to copy: applying the migrations takes seconds, a copy a
    fraction of one. Like a database `enishi db upgrade` migrated, except that no configuration is
    recorded in it: the first server or worker on a copy records its own (core/deployment.py)."""
    from .db.migrate import upgrade
    from .runtime import Runtime

    if is_sqlite(enishi_database_url):
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('template')}/template.db"
    else:
        template = f"{make_url(enishi_database_url).database}_template"
        asyncio.run(_admin(enishi_database_url, f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
        asyncio.run(_admin(enishi_database_url, f'CREATE DATABASE "{template}"'))
        url = make_url(enishi_database_url).set(database=template).render_as_string(hide_password=False)
    runtime = Runtime(replace(enishi_base_settings, database_url=url))
    upgrade(runtime)
    asyncio.run(runtime.close())  # PostgreSQL copies a template only while no one is connected to it
    yield url
    if not is_sqlite(url):
        asyncio.run(_admin(enishi_database_url, f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)'))


@pytest.fixture
def enishi_fresh_migrated(enishi_database_url, enishi_migrated_template, tmp_path) -> Iterator[str]:
    """The URL of a new database with every migration applied (a copy of `enishi_migrated_template`),
    dropped after the test: for server and worker processes, and for tests that inspect the whole
    database, files included (`await enishi_api(database_url=enishi_fresh_migrated)`)."""
    with new_database(enishi_database_url, tmp_path / "migrated.db", enishi_migrated_template) as url:
        yield url


@pytest.fixture(scope="session")
def enishi_base_settings(enishi_database_url, tmp_path_factory) -> Settings:
    """The `Settings` every test app starts from: the session's database, production mode (so the
    clock is exactly `enishi_clock`), a fixed test key-encryption key, mail written to files.
    Override any of them per app: `await enishi_api(default_page_size=5)`."""
    # A fixed test key-encryption key (base64 of 32 bytes): the privacy plugin refuses to run in
    # production mode without one. Mail goes to files (`enishi_sent_mail`).
    return Settings(
        database_url=enishi_database_url,
        environment="production",
        key_encryption_key="dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=",
        mail_url=tmp_path_factory.mktemp("mail").as_uri(),
        public_url="https://crm.example.test",
        validate_events=True,
    )


@pytest.fixture
def enishi_sent_mail(enishi_base_settings):
    """The messages this test sent so far, by Message-ID's local part (the event id), parsed.
    The mail folder is the session's, so what earlier tests sent is left out: a test never reads
    another's mail (a link or a code meant for someone else)."""
    import email
    from email import policy
    from urllib.parse import urlsplit

    directory = Path(urlsplit(enishi_base_settings.mail_url).path)
    earlier = set(directory.rglob("*.eml"))

    def sent() -> dict[str, email.message.EmailMessage]:
        return {
            path.stem: email.message_from_bytes(path.read_bytes(), policy=policy.default)
            for path in directory.rglob("*.eml")
            if path not in earlier
        }

    return sent


async def _reset_database(url: str) -> None:
    """PostgreSQL: start from an empty schema so a previous run's leftovers cannot hide a migration bug."""
    if is_sqlite(url):
        return
    from .db import create_engine

    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(scope="session")
def enishi_migrated(enishi_base_settings) -> Settings:
    """`enishi_base_settings`, once the session's database holds every migration of the core and of
    each installed plugin (on PostgreSQL, rebuilt from an empty schema first)."""
    from .db.migrate import upgrade
    from .runtime import Runtime

    asyncio.run(_reset_database(enishi_base_settings.database_url))
    runtime = Runtime(enishi_base_settings)
    upgrade(runtime)
    asyncio.run(runtime.close())
    return enishi_base_settings


def _emptied_tables() -> list:
    """The tables `wipe` empties, children first. Append-only tables refuse deletes; their rows name
    random ids, so later tests are not disturbed."""
    return [table for table in reversed(Base.metadata.sorted_tables) if not table.info.get("append_only")]


async def wipe(runtime) -> None:
    async with runtime.unit_of_work() as uow:
        tables = [table.name for table in _emptied_tables()]
        if is_sqlite(runtime.settings.database_url):
            for name in tables:
                await uow.session.execute(text(f'DELETE FROM "{name}"'))
        else:
            await uow.session.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in tables) + " RESTART IDENTITY CASCADE"))


async def table_rows(runtime) -> dict[str, list[dict]]:
    """The rows of every table `wipe` empties, by table name: a state for `restore` to bring back."""
    from sqlalchemy import select

    async with runtime.read_session() as session:
        return {
            table.name: [dict(row) for row in (await session.execute(select(table))).mappings()] for table in _emptied_tables()
        }


async def restore(runtime, rows: dict[str, list[dict]]) -> None:
    """Empty what `wipe` empties, then put back `rows` (from `table_rows`): one database behind a
    server process a module's tests share starts each test as the module set it up."""
    from sqlalchemy import insert

    await wipe(runtime)
    async with runtime.unit_of_work() as uow:
        for table in reversed(_emptied_tables()):  # parents first
            if not rows[table.name]:
                continue
            await uow.session.execute(insert(table), rows[table.name])
            numbered = table.autoincrement_column
            if numbered is not None and not is_sqlite(runtime.settings.database_url):
                # `wipe` restarted the sequence at 1: move it past the numbers put back.
                await uow.session.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', '{numbered.name}'), :last)"),
                    {"last": max(row[numbered.name] for row in rows[table.name])},
                )


@dataclass
class Api:
    """A running app reached over HTTP (httpx's ASGI transport), with a token per role, and the
    GraphQL schema the app serves."""

    runtime: Runtime
    client: httpx.AsyncClient
    schema: Schema
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, uuid.UUID] = field(default_factory=dict)

    @property
    def clock(self) -> ManualClock:
        """The test's clock; outside production mode, the one under the runtime's `SimulatedClock`."""
        clock = self.runtime.clock
        base = clock.base if isinstance(clock, SimulatedClock) else clock
        assert isinstance(base, ManualClock)  # the fixtures build every runtime on one
        return base

    async def token(self, role: str = "admin") -> str:
        """The bearer token of a test user holding `role`, created on first use: one user per role."""
        if role not in self.tokens:
            from .auth import create_user, issue_token

            async with self.runtime.unit_of_work() as uow:
                user = await create_user(
                    uow.session, self.runtime.clock, display_name=f"test {role}", roles=[role], email=f"{role}@staff.example"
                )
                self.tokens[role] = await issue_token(uow.session, self.runtime.clock, self.runtime.permissions, user)
                self.user_ids[role] = user.id
        return self.tokens[role]

    async def scoped_token(self, role: str, scopes=None, expires_at: dt.datetime | None = None) -> str:
        """Another token of the role's test user, narrowed to `scopes` and expiring at `expires_at`
        (pass it as `token=` to `post`, `graphql` or `mutate`)."""
        from .auth import issue_token
        from .models import User

        await self.token(role)
        async with self.runtime.unit_of_work() as uow:
            user = await uow.session.get_one(User, self.user_ids[role])
            return await issue_token(
                uow.session, self.runtime.clock, self.runtime.permissions, user, scopes=scopes, expires_at=expires_at
            )

    async def post(
        self,
        query: str,
        variables: dict | None = None,
        *,
        role: str = "admin",
        headers: dict | None = None,
        token: str | None = None,
    ):
        """POST a GraphQL request as `role` (or with `token`); the raw httpx response, for status
        codes and headers."""
        token = token or await self.token(role)
        return await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
        )

    async def graphql(self, query: str, variables: dict | None = None, *, role: str = "admin", token: str | None = None) -> dict:
        """The `data` of a query that must succeed without errors."""
        response = await self.post(query, variables, role=role, token=token)
        body = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        return body["data"]

    async def errors(self, query: str, variables: dict | None = None, *, role: str = "admin") -> list[dict]:
        """The `errors` of a query that must fail."""
        body = (await self.post(query, variables, role=role)).json()
        assert body.get("errors"), body
        return body["errors"]

    async def mutate(self, name: str, input: dict, selection: str = "", *, role: str = "admin", token: str | None = None) -> dict:
        """Run mutation `name(input:)`; returns its payload (with `userErrors`)."""
        query = (
            f"mutation($input: {name[0].upper()}{name[1:]}Input!) {{ {name}(input: $input) "
            f"{{ {selection} userErrors {{ field message code }} }} }}"
        )
        return (await self.graphql(query, {"input": input}, role=role, token=token))[name]


class ServerUrl(str):
    """A running server's base URL, with its process."""

    process: object


@contextlib.contextmanager
def serve(env: dict, command: tuple[str, ...] = ("-m", "enishi.cli", "serve")) -> Iterator[ServerUrl]:
    """A real `enishi serve` process (or another server script taking `--port`, `command`) with
    `env` added to this process's environment, once it answers /health; stopped afterwards. The
    `enishi_server` fixture hands it out; a module-scoped fixture may call it directly."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, *command, "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: `serve --workers N` children are killed with it
    )
    url = ServerUrl(f"http://127.0.0.1:{port}")
    url.process = process
    try:
        # A guard against a server that never answers, not a speed limit: several processes
        # (`serve --workers 2`) on a loaded machine take a while.
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                # Its output ends only once every process holding it is gone: the group, since
                # a supervisor killed alone leaves its workers writing to the pipe.
                with contextlib.suppress(ProcessLookupError):  # none of the group left
                    os.killpg(process.pid, signal.SIGKILL)
                raise RuntimeError(
                    "enishi serve did not start:\n" + (process.stdout.read() if process.stdout else b"").decode(errors="replace")
                )
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def enishi_server():
    """A factory of real `enishi serve` processes: `with enishi_server(env) as url: ...`, where `url`
    also holds the `process` (to kill it); `command` runs another server script (taking `--port`)."""
    return serve


@pytest.fixture
def enishi_clock() -> ManualClock:
    """The clock of every app `enishi_api` makes in this test, standing still at Monday 10 June 2024,
    09:00 in Tokyo until the test moves it (`enishi_clock.advance(days=3)`, `.set(...)`; also
    reachable as `api.clock`). Enishi reads time only from it, so deadlines, expiry and
    timestamps are exact."""
    return ManualClock(TEST_START)


@pytest_asyncio.fixture
async def enishi_api(enishi_migrated, enishi_clock):
    """A factory of in-process apps: `api = await enishi_api(plugins=[...], **setting_overrides)` gives
    an `Api`, the app served over HTTP through httpx's ASGI transport (no port, no process) on the
    session's migrated database, with a token per role (`api.graphql(query, role="sales")`,
    `api.mutate(...)`, `api.errors(...)`) and `enishi_clock` as its clock. Every installed plugin is
    loaded; `plugins=[("name", hooks_module)]` adds modules that are not installed (their tables
    must already exist). Tables are emptied after the test."""
    import httpx

    from enishi.graphql.app import create_app

    from .runtime import Runtime

    made: list[tuple] = []

    async def make(plugins=(), **overrides) -> Api:
        runtime = Runtime(replace(enishi_migrated, **overrides), clock=enishi_clock, extra_plugins=plugins)
        app = create_app(runtime)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://enishi.test")
        made.append((runtime, client))
        return Api(runtime, client, app.state.schema)

    yield make
    for _, client in made:
        await client.aclose()
    # The shared database is emptied for the next test; a fresh one is dropped by its own fixture.
    shared = next((runtime for runtime, _ in made if runtime.settings.database_url == enishi_migrated.database_url), None)
    if shared is not None:
        await wipe(shared)
    for runtime, _ in made:
        await runtime.close()


@pytest_asyncio.fixture
async def api(enishi_api) -> Api:
    """The app with every installed plugin, as an admin would reach it."""
    return await enishi_api()
