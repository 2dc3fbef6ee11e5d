"""The floor for `loyalty_spend.py`: a bare starlette endpoint doing the least a guarded spend can
do — one conditional UPDATE of one row in its own write transaction — on the same database."""
import argparse
import os
import sys

import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from enishi.db import create_engine, sessionmakers  # noqa: E402


def build(url: str) -> Starlette:
    engine = create_engine(url)
    _, writer = sessionmakers(engine)

    async def spend(request):
        amount = (await request.json())["amount"]
        async with writer() as session, session.begin():
            done = await session.execute(text("UPDATE bench_counter SET balance = balance - :a WHERE id = 1 AND balance >= :a"),
                                         {"a": amount})
        return JSONResponse({"ok": done.rowcount == 1})

    async def setup(request):
        async with writer() as session, session.begin():
            await session.execute(text("CREATE TABLE IF NOT EXISTS bench_counter (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)"))
            await session.execute(text("DELETE FROM bench_counter"))
            await session.execute(text("INSERT INTO bench_counter VALUES (1, :b)"), {"b": (await request.json())["balance"]})
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/spend", spend, methods=["POST"]), Route("/setup", setup, methods=["POST"])])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    uvicorn.run(build(args.db), host="127.0.0.1", port=args.port, log_level="warning")
