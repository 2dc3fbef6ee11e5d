"""Floors served by a bare starlette app on the same database. For `loyalty_spend.py`, two: `/spend`,
a hand-written spend doing the work Enishi's `spendPoints` must do (`floor_spend` below), and
`/spend-update`, the least a guarded spend can do (one conditional UPDATE of one row in its own
write transaction), kept as a second figure. For `contact_page_http.py`, the hand-written queries of
`contact_page.floor_page` (or, with `"shape": "frontend"`, `floor_frontend_page`) behind a route."""

import argparse
import asyncio
import os
import sys

import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from contact_page import FLOORS
from floor_spend import floor_spend

from enishi import crypto
from enishi.clock import SystemClock
from enishi.db import create_engine, is_sqlite, sessionmakers
from enishi.runtime import settle_heap
from enishi.settings import Settings


def build(url: str) -> Starlette:
    # The floor decrypts names and emails as Enishi does: same KEK (ENISHI_KEK), no Runtime.
    crypto.install(crypto.KeyRing(Settings.from_env()))
    engine = create_engine(url)
    clock = SystemClock()
    reader, writer = sessionmakers(engine, clock)
    write_gate = asyncio.Lock() if is_sqlite(url) else None  # one writer at a time, as in Enishi's Runtime

    async def contacts(request):
        body = await request.json()
        page = FLOORS[body.get("shape", "page")]
        return Response(await page(reader, int(body["first"])), media_type="application/json")

    async def spend(request):
        header = request.headers.get("authorization", "")
        return JSONResponse(await floor_spend(reader, writer, write_gate, clock, header, await request.json()))

    async def spend_update(request):
        amount = (await request.json())["amount"]
        async with writer() as session, session.begin():
            done = await session.execute(
                text("UPDATE bench_counter SET balance = balance - :a WHERE id = 1 AND balance >= :a"), {"a": amount}
            )
        return JSONResponse({"ok": done.rowcount == 1})

    async def setup(request):
        async with writer() as session, session.begin():
            await session.execute(
                text("CREATE TABLE IF NOT EXISTS bench_counter (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
            )
            await session.execute(text("DELETE FROM bench_counter"))
            await session.execute(text("INSERT INTO bench_counter VALUES (1, :b)"), {"b": (await request.json())["balance"]})
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/spend", spend, methods=["POST"]),
            Route("/spend-update", spend_update, methods=["POST"]),
            Route("/setup", setup, methods=["POST"]),
            Route("/contacts", contacts, methods=["POST"]),
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    app = build(args.db)
    settle_heap()  # the same collector settings as `enishi serve`, so the ratio compares the code alone
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
