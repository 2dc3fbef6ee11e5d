"""Per-request state: who is asking, one read session, and the request's DataLoaders."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from enishi.auth import Viewer
from enishi.errors import Forbidden
from enishi.runtime import Runtime


class Context:
    def __init__(self, runtime: Runtime, viewer: Viewer | None, client_address: str | None = None) -> None:
        self.runtime = runtime
        self.viewer = viewer
        # The HTTP client's address (None in process, for the console): what a throttle per client
        # counts, such as the privacy plugin's on requests made without a token.
        self.client_address = client_address
        self._session: AsyncSession | None = None
        self._session_cm: Any = None
        # Resolvers run concurrently; one AsyncSession must only ever run one statement at a time.
        self._lock = asyncio.Lock()
        self._loaders: dict[Any, DataLoader] = {}
        self._finished = False

    @property
    def settings(self):
        return self.runtime.settings

    def require(self, permission: str) -> Viewer:
        if permission not in self.runtime.permissions.known:
            raise RuntimeError(f"unknown permission {permission!r}: contribute it with enishi_permissions")
        if self.viewer is None:
            raise Forbidden("authentication required")
        self.viewer.require(permission)
        return self.viewer

    def can(self, permission: str) -> bool:
        return self.viewer is not None and self.viewer.has(permission)

    async def execute(self, statement, parameters: dict | None = None):
        async with self._lock:
            if self._finished:
                # A sibling resolver still running after the response was decided (graphql-core
                # does not cancel them when a field fails); its result is discarded anyway.
                raise RuntimeError("the request has finished")
            if self._session is None:
                self._session_cm = self.runtime.read_session()
                self._session = await self._session_cm.__aenter__()
            return await self._session.execute(statement, parameters)

    async def scalars(self, statement, parameters: dict | None = None) -> list:
        return list((await self.execute(statement, parameters)).scalars())

    def loader(self, key: Any, factory: Callable[[Context], Callable], *, cache: bool = True) -> DataLoader:
        """The request's DataLoader for `key`, created on first use from `factory(context)`,
        which returns the batch function. Plugins use this for their fields on core types.
        `cache=False` for keys that are not hashable or not worth remembering (each load joins
        the next batch)."""
        loader = self._loaders.get(key)
        if loader is None:
            loader = self._loaders[key] = DataLoader(load_fn=factory(self), cache=cache)
        return loader

    async def after_write(self) -> None:
        """A mutation committed: later reads must see it, so drop the snapshot and the caches."""
        async with self._lock:
            await self._release()
        self._loaders.clear()

    async def close(self) -> None:
        """End of the request: wait for a statement in flight, then give the connection back."""
        async with self._lock:
            self._finished = True
            await self._release()

    async def _release(self) -> None:
        if self._session_cm is not None:
            cm, self._session_cm, self._session = self._session_cm, None, None
            await cm.__aexit__(None, None, None)
