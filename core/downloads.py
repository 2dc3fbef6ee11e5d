"""The core's HTTP route beside `/graphql`: `/exports/{token}`, where an export's single-use link is
downloaded. Contributed through `enishi_http_routes` like a plugin's routes, so the GraphQL
framework (`enishi.graphql`) knows nothing of exports."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from enishi.graphql.errors import error_response

from .schema.exports import export_file
from .services.export_files import LinkGone, LinkUnknown, claim_link, media_type

log = logging.getLogger("enishi.http")  # the HTTP surface's log, as graphql/app.py's


async def export_download(request: Request) -> Response:
    """An export's file, generated now from the request its link recorded; the link works once.
    The response is streamed: rows are read, written and sent a batch at a time."""
    runtime = request.app.state.runtime
    try:
        async with runtime.unit_of_work() as uow:
            export = await claim_link(uow, runtime.permissions, request.path_params["token"])
    except LinkUnknown:
        return error_response(404, "no such export link", "NOT_FOUND")
    except LinkGone:
        return error_response(410, "this export link was used already or has expired: export again", "EXPORT_LINK_GONE")
    chunks = export_file(runtime, export.actor_id, export.kind, export.format, export.encoding, export.filter)
    day = runtime.clock.now().astimezone(runtime.settings.zone).date().isoformat()
    log.info("export", extra={"kind": export.kind, "format": export.format})
    return StreamingResponse(
        chunks,
        media_type=media_type(export.format, export.encoding),
        headers={
            "Content-Disposition": f'attachment; filename="{export.kind}-{day}.{export.format}"',
            "Cache-Control": "no-store",
        },
    )


ROUTES = [Route("/exports/{token}", export_download, methods=["GET"])]
