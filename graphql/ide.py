"""GraphiQL, the in-browser IDE /graphql serves to a browser outside production, with every script
and style sheet served from the package (static/graphiql/, README.md there lists their versions
and licences): strawberry's page loads them from a public CDN and stays at "Loading..." wherever
the browser cannot reach it (behind many corporate proxies, in air-gapped deployments)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from .errors import error_response

ASSETS = Path(__file__).parent / "static" / "graphiql"
ASSETS_PATH = "/graphiql/assets"
# Each URL carries the file's digest, so a browser may keep it as long as it likes: a new file
# (an upgrade) is a new URL.
CACHE_FOREVER = "public, max-age=31536000, immutable"
# The browser itself refuses anything from elsewhere: scripts, styles, fonts and requests go to this
# server only (GraphiQL's fonts are inlined as data: URLs, React sets inline styles).
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
STYLES = ("graphiql-3.8.3.min.css", "graphiql-plugin-explorer-1.0.2.css")
# In this order: GraphiQL's bundle needs React; the explorer plugin needs GraphiQL; ours starts them.
SCRIPTS = (
    "react-18.2.0.production.min.js",
    "react-dom-18.2.0.production.min.js",
    "graphiql-3.8.3.min.js",
    "graphiql-plugin-explorer-1.0.2.umd.js",
    "enishi-graphiql.js",
)

PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Enishi GraphiQL</title>
    <link rel="icon" href="data:,">
    <style>
      body {{ height: 100%; margin: 0; width: 100%; overflow: hidden; }}
      #graphiql {{ height: 100vh; display: flex; }}
      .graphiql-explorer-actions select {{ margin-left: 4px; }}
    </style>
{styles}
  </head>
  <body>
    <div id="graphiql" class="graphiql-container">Loading...</div>
{scripts}
  </body>
</html>
"""


@dataclass(frozen=True)
class GraphiQL:
    """The page and the routes serving its files, the files' digests read once, at start-up."""

    urls: dict[str, str]

    @classmethod
    def load(cls) -> GraphiQL:
        urls = {}
        for name in STYLES + SCRIPTS:
            digest = hashlib.sha256((ASSETS / name).read_bytes()).hexdigest()[:16]
            urls[name] = f"{ASSETS_PATH}/{name}?v={digest}"
        return cls(urls)

    def page(self) -> HTMLResponse:
        styles = "\n".join(f'    <link rel="stylesheet" href="{self.urls[name]}">' for name in STYLES)
        scripts = "\n".join(f'    <script src="{self.urls[name]}"></script>' for name in SCRIPTS)
        return HTMLResponse(PAGE.format(styles=styles, scripts=scripts), headers={"Content-Security-Policy": POLICY})

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self.urls:  # only the files of the page, never a path into the package
            return error_response(404, "no such file", "NOT_FOUND")
        headers = {"Cache-Control": CACHE_FOREVER, "X-Content-Type-Options": "nosniff"}
        return FileResponse(ASSETS / name, media_type=MEDIA_TYPES[Path(name).suffix], headers=headers)

    def routes(self) -> list[Route]:
        return [Route(f"{ASSETS_PATH}/{{name}}", self.asset, methods=["GET", "HEAD"])]
