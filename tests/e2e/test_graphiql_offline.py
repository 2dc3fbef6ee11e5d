"""GraphiQL renders its editor in a real browser with no network beyond this machine: headless
Debian Chromium, every host but 127.0.0.1 unresolvable and every proxied request sent nowhere,
loads /graphql from a real `enishi serve`, under the page's Content-Security-Policy. The control:
strawberry's own page, which loads its scripts from a public CDN, stays at "Loading..." under the
same flags, so the network really is cut off. Skipped where Debian's `chromium` is not installed
(`apt-get install chromium`)."""

import os
import shutil
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from strawberry.http.ides import get_graphql_ide_html

from tests.e2e.test_crash_safety import KEK

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
    pytest.mark.skipif(
        bool(os.environ.get("ENISHI_TEST_DATABASE_URL")), reason="independent of the database; runs in the SQLite pass"
    ),
]
OFFLINE = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    # Nothing but this machine: no name resolves, and anything sent through a proxy goes to a closed port.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
    # Run the page's scripts until it settles (virtual time: no waiting on the clock).
    "--virtual-time-budget=15000",
)


def rendered(url: str, profile) -> str:
    """The page's DOM once its scripts have run."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, *OFFLINE, f"--user-data-dir={profile}", "--dump-dom", url], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_graphiql_renders_its_editor_without_internet_access(enishi_fresh_migrated, enishi_server, tmp_path):
    (tmp_path / "strawberry").mkdir()
    (tmp_path / "strawberry" / "index.html").write_text(get_graphql_ide_html(graphql_ide="graphiql"), encoding="utf-8")
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path / "strawberry"))
    control = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    try:
        cdn_page = rendered(f"http://127.0.0.1:{control.server_address[1]}/index.html", tmp_path / "profile-control")
    finally:
        control.shutdown()
    assert '<div id="graphiql" class="graphiql-container">Loading...</div>' in cdn_page

    with enishi_server({"ENISHI_DATABASE_URL": enishi_fresh_migrated, "ENISHI_KEK": KEK}) as url:
        page = rendered(url + "/graphql", tmp_path / "profile")
    assert "Loading..." not in page
    for part in ("graphiql-editors", "graphiql-query-editor", "graphiql-execute-button", "Headers"):
        assert part in page, part
    assert "Welcome to Enishi" in page  # the start-up script ran: its example query is in the editor
