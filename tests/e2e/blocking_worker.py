"""`enishi worker --once` at a given test time (`enishi.worker.work`, as the command runs it, JSON
logs on stderr), with one plugin that notes each `test.ping` it delivers (a line per event in a
file) and, at the event numbered `--block-at`, first notes "blocked" and then waits for a file
lock the test holds: the test kills the worker (or asks it to stop) right then, mid-job and
mid-batch, knowing exactly what it had delivered."""

import argparse
import asyncio
import datetime as dt
import fcntl
import threading
from pathlib import Path

from enishi import EventType, PayloadField, hookimpl, logs
from enishi.clock import ManualClock
from enishi.runtime import Runtime
from enishi.worker import work

PING = EventType("test.ping", "test", "A ping to deliver.", (PayloadField("n", int),))


class Recorder:
    def __init__(self, log: Path, lock: Path | None = None, block_at: int | None = None) -> None:
        self.log, self.lock, self.block_at = log, lock, block_at

    def note(self, line: str) -> None:
        with self.log.open("a") as log:
            log.write(line + "\n")

    def delivered(self) -> list[int]:
        return [int(line) for line in self.log.read_text().split() if line.isdigit()] if self.log.exists() else []

    @hookimpl
    def enishi_event_types(self):
        return [PING]

    @hookimpl
    async def enishi_deliver_event(self, event, runtime):
        if not event.is_(PING):
            return
        if event.payload["n"] == self.block_at and self.lock is not None:
            self.note("blocked")
            await _wait_for(self.lock)
        self.note(str(event.payload["n"]))


async def _wait_for(lock: Path) -> None:
    """Return once the test let go of `lock`. Waited for in a daemon thread, not the loop's
    executor: a worker cancelling the job stops waiting, and exits without joining the thread."""
    loop = asyncio.get_running_loop()
    released = loop.create_future()

    def release() -> None:
        if not released.done():  # the job was cancelled meanwhile
            released.set_result(None)

    def wait() -> None:
        with lock.open("a") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
        loop.call_soon_threadsafe(release)

    threading.Thread(target=wait, daemon=True).start()
    await released


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--now", type=dt.datetime.fromisoformat, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--lock", type=Path, required=True)
    parser.add_argument("--block-at", type=int, required=True)
    args = parser.parse_args()
    recorder = Recorder(args.log, args.lock, args.block_at)
    runtime = Runtime(clock=ManualClock(args.now), extra_plugins=[("recorder", recorder)])
    logs.configure(runtime.settings.log_level, "json")
    try:
        await work(runtime, once=True)
    finally:
        await runtime.close()


if __name__ == "__main__":
    asyncio.run(main())
