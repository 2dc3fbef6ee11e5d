"""Small GraphQL snippets and command runners shared by the tests."""

from __future__ import annotations

import contextlib
import email
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from email import policy
from pathlib import Path

from sqlalchemy import make_url, text

ACCOUNT_FIELDS = "account { id name nameKana domain employeeCount lifecycleStage customFields deletedAt }"
CONTACT_FIELDS = (
    "contact { id familyName givenName familyNameKana givenNameKana displayName primaryEmail "
    "emails { address isPrimary } phones { e164 isPrimary } accounts { isPrimary account { id name } } deletedAt }"
)


async def create_account(api, role: str = "admin", **input) -> dict:
    payload = await api.mutate("createAccount", {"name": "株式会社テスト", **input}, ACCOUNT_FIELDS, role=role)
    assert payload["userErrors"] == [], payload
    return payload["account"]


async def create_contact(api, role: str = "admin", **input) -> dict:
    payload = await api.mutate("createContact", input, CONTACT_FIELDS, role=role)
    assert payload["userErrors"] == [], payload
    return payload["contact"]


async def log_activity(api, **input) -> dict:
    payload = await api.mutate("logActivity", {"type": "call", "summary": "電話", **input}, "activity { id occurredAt type }")
    assert payload["userErrors"] == [], payload
    return payload["activity"]


async def count_rows(api, table: str) -> int:
    from sqlalchemy import text

    async with api.runtime.read_session() as session:
        return (await session.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar_one()


async def root_fields_added_by(enishi_api, plugin: str) -> set[str]:
    """`Query.x` / `Mutation.y` names the plugin adds to the core schema."""
    core = (await enishi_api(enabled_plugins=frozenset())).schema._schema
    full = (await enishi_api(enabled_plugins=frozenset({plugin}))).schema._schema
    return {
        f"{root}.{name}"
        for root in ("Query", "Mutation")
        for name in full.get_type(root).fields
        if name not in core.get_type(root).fields
    }


async def query_row(database_url: str, statement: str) -> tuple:
    """One row of raw SQL on a database no runtime of the test holds (a server process's)."""
    from sqlalchemy import text

    from enishi.db import create_engine

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return tuple((await connection.execute(text(statement))).one())
    finally:
        await engine.dispose()


def enishi(*args, env: dict, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the `enishi` command line as an operator would, in a process of its own."""
    result = subprocess.run(
        [sys.executable, "-m", "enishi.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def cli_token(database_url: str, role: str = "manager") -> str:
    """A token for `role` on the migrated database at `database_url` (`enishi_fresh_migrated`),
    created through the CLI."""
    return enishi("token", "create", "--role", role, env={"ENISHI_DATABASE_URL": database_url}).stdout.split()[-1]


async def graphql_data(client, query: str, variables: dict | None = None) -> dict:
    """POST a query with an httpx client of a real server; its `data`, asserting no errors."""
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


def pip_install(source: Path, target: Path) -> Path:
    """Install a plugin's package with pip, as a third party's, into `target`, a folder to put on
    PYTHONPATH of the processes that should see it: the test environment itself stays as it is.
    pip builds from a copy beside `target`: building in place would leave a build/ folder in the
    source tree, whose stale files a later build of another version would install too."""
    copy = target.with_name(f"{target.name}-source")
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    source = copy
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    return target


SPELLINGS = [
    "taro@abc.co.jp",
    "Taro@ABC.co.jp",
    "+81312345678",
    "0312345678",
    "03-1234-5678",
    "０３－１２３４－５６７８",
    "山田",
    "太郎",
    "ヤマダ",
    "タロウ",
    "やまだ",
    "たろう",
]


async def table_hits(runtime, spellings=SPELLINGS) -> dict:
    """Every table read raw, by table: which spellings of the test person appear in clear."""
    from sqlalchemy import select

    from enishi.db import Base

    hits: dict[str, set[str]] = {}
    async with runtime.read_session() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                cells = " ".join(
                    c.decode("utf-8", "replace") if isinstance(c, bytes) else json.dumps(c, ensure_ascii=False, default=str)
                    for c in row
                )
                for spelling in spellings:
                    if spelling.lower() in cells.lower():
                        hits.setdefault(table.name, set()).add(spelling)
    return hits


def file_hits(home: Path, spellings=SPELLINGS) -> dict:
    """Every file under the server's home (the SQLite database and its WAL, the mail folder, …),
    read raw and, for a message, decoded too (a body may be base64), by path under home."""
    hits: dict[str, set[str]] = {}
    for file in (f for f in home.rglob("*") if f.is_file()):
        data = file.read_bytes()
        if file.suffix == ".eml":
            message = email.message_from_bytes(data, policy=policy.default)
            data += str(message.get_body()).encode() + "".join(f"{k}: {v}" for k, v in message.items()).encode()
        for spelling in spellings:
            if spelling.lower().encode("utf-8") in data.lower():
                hits.setdefault(file.relative_to(home).as_posix(), set()).add(spelling)
    return hits


PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def pgbouncer(database_url: str, *, pool_size: int):
    """A PgBouncer on a random loopback port in front of `database_url`'s server, pooling each
    database in transaction mode on `pool_size` server connections; yields the URL leading through it."""
    target, port = make_url(database_url), free_port()
    with tempfile.TemporaryDirectory() as home:
        config = Path(home, "pgbouncer.ini")
        Path(home, "users.txt").write_text(f'"{target.username}" ""\n')
        config.write_text(
            f"[databases]\n* = host={target.host} port={target.port}\n"
            f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {home}/users.txt\npool_mode = transaction\n"
            f"default_pool_size = {pool_size}\nmax_client_conn = 500\n"
        )
        as_user = ["-u", "postgres"] if os.geteuid() == 0 else []  # PgBouncer refuses to run as root
        if as_user:
            shutil.chown(home, "postgres")
            os.chmod(home, 0o755)
        process = subprocess.Popen([PGBOUNCER, *as_user, str(config)], stderr=subprocess.PIPE, text=True)
        try:
            while True:  # until it listens
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
            yield target.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        finally:
            process.terminate()
            process.wait(timeout=30)


async def backends_waiting_on_a_lock(connection) -> int:
    """How many of the database's backends wait on a lock now (PostgreSQL), from a new snapshot of
    the activity view: the transaction the view is read in ends with the read."""
    waiting = (
        await connection.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")
        )
    ).scalar_one()
    await connection.rollback()
    return waiting
