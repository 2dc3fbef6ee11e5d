"""Mail delivered while its person is erased: the file transport and the erasure take the person's
mail lock, so a message is either written before the erasure deletes their folder or not kept at
all. Both interleavings are forced — the delivery held at a barrier after reading the address,
before or after taking the lock — and then every file the server wrote under its home is scanned."""

import asyncio
import fcntl
import threading

import pytest

from enishi import mail
from enishi.outbox import deliver_pending
from tests.helpers import create_contact, file_hits
from tests.plugins.privacy.helpers import intake, run_request, submit


class HeldLocks:
    """Stands in for `fcntl.flock` in the mail module. The first lock taken is the delivery's: it is
    held at a barrier (before the lock is acquired, or once it is) until released. The next is the
    erasure's: it says it is waiting, then waits for real."""

    def __init__(self, hold_inside: bool):
        self.hold_inside = hold_inside
        self.delivery_at_barrier, self.release, self.erasure_waiting = threading.Event(), threading.Event(), threading.Event()
        self.calls = 0
        self.flock_for_real = fcntl.flock

    def _barrier(self) -> None:
        self.delivery_at_barrier.set()
        self.release.wait()

    def flock(self, handle, operation) -> None:
        self.calls += 1
        if self.calls > 1:
            self.erasure_waiting.set()
            self.flock_for_real(handle, operation)
            return
        if not self.hold_inside:
            self._barrier()
        self.flock_for_real(handle, operation)
        if self.hold_inside:
            self._barrier()


@pytest.mark.parametrize("delivery_holds_the_lock", [False, True], ids=["erasure-first", "delivery-first"])
async def test_mail_delivered_during_an_erasure_leaves_no_file(
    enishi_api, enishi_fresh_migrated, tmp_path, monkeypatch, delivery_holds_the_lock
):
    # The server's home holds everything it writes: the database (on SQLite) and the mail folder.
    api = await enishi_api(database_url=enishi_fresh_migrated, mail_url=(tmp_path / "mail").as_uri())
    person = await create_contact(api, familyName="山田", givenName="太郎", emails=[{"address": "Taro@ABC.co.jp"}])
    await submit(api, type="access", email="taro@abc.co.jp")  # the outbox will mail them a code
    locks = HeldLocks(hold_inside=delivery_holds_the_lock)
    monkeypatch.setattr(mail.fcntl, "flock", locks.flock)
    delivering = asyncio.create_task(deliver_pending(api.runtime))
    await asyncio.to_thread(locks.delivery_at_barrier.wait)  # it has read the address; no file yet
    erasure = await intake(api, person["id"], "erasure")
    if delivery_holds_the_lock:
        erasing = asyncio.create_task(run_request(api, erasure["id"]))
        await asyncio.to_thread(locks.erasure_waiting.wait)  # the erasure waits for the delivery's lock
        locks.release.set()
        done = await erasing
    else:
        done = await run_request(api, erasure["id"])  # the erasure completes before the file is written
        locks.release.set()
    await delivering
    assert done["status"] == "completed", done["history"]
    core = next(r for r in done["runs"] if r["plugin"] == "core")
    assert core["affected"].get("mail:delete", 0) == (1 if delivery_holds_the_lock else 0)
    assert not list((tmp_path / "mail").rglob("*.eml"))
    assert file_hits(tmp_path) == {}
