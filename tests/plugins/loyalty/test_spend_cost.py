"""What one spend costs in SQL statements: under contention on one member, every statement is
paid inside the member's lock (bench/loyalty_spend.py)."""

import re

from sqlalchemy import event

from tests.plugins.loyalty.helpers import earn, ledger_ok, member, program

SPEND = "mutation($m: ID!) { spendPoints(input: {memberId: $m, amount: 150}) { member { balance } userErrors { code } } }"


async def _statements(api, query, variables) -> tuple[dict, list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()))

    event.listen(api.runtime.engine.sync_engine, "before_cursor_execute", record)
    try:
        data = await api.graphql(query, variables)
    finally:
        event.remove(api.runtime.engine.sync_engine, "before_cursor_execute", record)
    return data, statements


def _selects_from(table: str, statements: list[str]) -> list[str]:
    return [s for s in statements if s.startswith("SELECT") and re.search(rf"FROM {table}\b(?!_)", s)]


async def test_a_spend_reads_the_member_and_its_lots_once(api):
    program_id = await program(api)
    member_id = await member(api, program_id)
    for _ in range(2):
        await earn(api, member_id, 100)
    data, statements = await _statements(api, SPEND, {"m": member_id})
    assert data["spendPoints"] == {"member": {"balance": 50}, "userErrors": []}
    # The member once (locked; the payload's member is that row), its lots once (the expiry check
    # and the spend share the read), whatever the spend takes from two lots.
    assert len(_selects_from("loyalty_member", statements)) == 1, statements
    assert len(_selects_from("loyalty_lot", statements)) == 1, statements
    # The entry's number comes from the locked member's counter: the ledger is written, never read.
    assert _selects_from("loyalty_entry", statements) == [], statements
    assert await ledger_ok(api)
