"""The compliance console at /console: server-rendered pages (Jinja2, no script) for the roles
`compliance` and `admin`, over the same GraphQL operations the API serves (documents.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from enishi.runtime import Runtime

from .app import COOKIE_PATH, HERE, SECURITY_HEADERS, Console
from .pages import Pages
from .sign_in import SignIn


def console_routes(runtime: Runtime, schema) -> list[BaseRoute]:
    """The /console mount, or nothing when the privacy plugin (whose operations it shows) is off."""
    if "dataSubjectRequests" not in schema.as_str():
        return []
    console = Console(runtime, schema)
    sign_in = SignIn(console)

    async def home(_request: Request) -> Response:
        return RedirectResponse(f"{COOKIE_PATH}/requests", status_code=303, headers=SECURITY_HEADERS)

    routes: list[BaseRoute] = [
        Route("/", home),
        Route("/sign-in", sign_in.page),
        Route("/sign-in", sign_in.password, methods=["POST"]),
        Route("/sign-in/link", sign_in.link_page),
        Route("/sign-in/link", sign_in.ask_link, methods=["POST"]),
        Route("/sign-in/link/use", sign_in.use_link, methods=["POST"]),
        Route("/sign-out", console.page(console.sign_out), methods=["POST"]),
        Route("/language", console.page(console.language), methods=["POST"]),
        # follow_symlink: the strict editable install links each file of the package into place.
        Mount("/static", app=StaticFiles(directory=HERE / "static", follow_symlink=True), name="console-static"),
        *Pages(console).routes(),
    ]
    return [Mount(COOKIE_PATH, routes=routes)]


__all__ = ["console_routes"]
