"""An in-process console client: the app over httpx's ASGI transport, its cookies kept by hand
(httpx sends no Secure cookie to a plain-http test host, which is the Secure flag working)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest_asyncio

from enishi.auth import create_user
from enishi.testing import Api
from enishi.web_sessions import set_password
from tests.console.seed import OFFICER, PASSWORD, Seeded, seed

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class ConsoleClient:
    api: Api
    cookies: dict[str, str] = field(default_factory=dict)
    language: str = "en"

    def _keep(self, response) -> None:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";")[0]
            if value in ("", '""'):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    async def get(self, path: str, **params):
        # No `params` at all when none is given: an empty one would replace the query of `path`.
        response = await self.api.client.get(path, params=params or None, headers=self._headers())
        self._keep(response)
        return response

    async def post(self, path: str, data: dict, *, csrf_from: str | None = None):
        """POST a form; with `csrf_from`, the CSRF token is taken from that page as a browser would."""
        if csrf_from is not None:
            page = await self.get(csrf_from)
            data = {"csrf": CSRF_FIELD.search(page.text).group(1), **data}  # type: ignore[union-attr]
        response = await self.api.client.post(path, data=data, headers=self._headers())
        self._keep(response)
        return response

    async def sign_in(self, email: str, password: str = PASSWORD):
        return await self.post("/console/sign-in", {"email": email, "password": password}, csrf_from="/console/sign-in")

    def _headers(self) -> dict:
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        return {"accept-language": self.language, **({"cookie": cookie} if cookie else {})}


async def add_user(api: Api, email: str, name: str, roles: list[str], password: str = PASSWORD) -> None:
    async with api.runtime.unit_of_work() as uow:
        user = await create_user(uow.session, api.runtime.clock, display_name=name, roles=roles, email=email)
        await set_password(uow.session, user.id, password)


@pytest_asyncio.fixture
async def officer(api) -> ConsoleClient:
    """A compliance officer signed in to the console."""
    await add_user(api, OFFICER[0], OFFICER[1], ["compliance"])
    client = ConsoleClient(api)
    assert (await client.sign_in(OFFICER[0])).status_code == 303
    return client


@pytest_asyncio.fixture
async def seeded(api) -> Seeded:
    return await seed(api.graphql, api.clock.now())
