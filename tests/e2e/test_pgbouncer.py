"""Enishi behind a real PgBouncer in transaction pooling mode (ENISHI_PGBOUNCER=1): migrations,
concurrent GraphQL writes from two server processes, a worker pass, all through a pool of two
server connections that every transaction may land on. PostgreSQL only (the test run on SQLite
has no server to put PgBouncer in front of); `make test`'s PostgreSQL pass runs it, and .ci/run
installs PgBouncer so that CI never skips it."""

import asyncio
import contextlib
from pathlib import Path

import httpx
import pytest

from tests.helpers import PGBOUNCER, enishi, graphql_data, pgbouncer


def test_enishi_works_behind_pgbouncer_in_transaction_pooling_mode(enishi_fresh_database_url, enishi_server):
    if enishi_fresh_database_url.startswith("sqlite"):
        pytest.skip("PgBouncer pools PostgreSQL: this test runs in the PostgreSQL pass of `make test`")
    if not Path(PGBOUNCER).exists():
        pytest.skip("the pgbouncer binary is missing (apt-get install pgbouncer; .ci/run installs it)")
    with pgbouncer(enishi_fresh_database_url, pool_size=2) as url:
        env = {"ENISHI_DATABASE_URL": url, "ENISHI_PGBOUNCER": "1"}
        assert enishi("db", "upgrade", env=env).stdout.strip() == "database is up to date"
        token = enishi("token", "create", "--role", "manager", env=env).stdout.split()[-1]
        headers = {"Authorization": f"Bearer {token}"}

        async def writes(servers):
            async with contextlib.AsyncExitStack() as stack:
                clients = [
                    await stack.enter_async_context(httpx.AsyncClient(base_url=s, headers=headers, timeout=120)) for s in servers
                ]
                created = await asyncio.gather(
                    *(
                        graphql_data(
                            clients[n % 2],
                            'mutation($n: String!) { createContact(input: {familyName: $n, emails: [{address: "a@example.jp"}]}) '
                            "{ contact { id } userErrors { code } } }",
                            {"n": f"顧客{n}"},
                        )
                        for n in range(24)
                    )
                )
                found = await graphql_data(clients[0], 'query { contacts(filter: {search: "顧客"}) { totalCount } }')
                return created, found["contacts"]["totalCount"]

        with enishi_server(env) as a, enishi_server(env) as b:
            created, found = asyncio.run(writes([a, b]))
        assert [c["createContact"]["userErrors"] for c in created] == [[]] * 24
        assert found == 24  # every acknowledged write is there
        ran = enishi("worker", "--once", env=env).stdout
        assert "core.outbox" in ran and "automation.webhooks" in ran, ran
