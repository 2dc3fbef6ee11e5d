"""GraphiQL works without internet access: the page /graphql serves a browser loads its scripts and
styles from the app, which serves them from the installed package with long cache headers; and
no HTML page Enishi serves (the privacy statement, report downloads, the CSAT survey) loads
anything from another host. tests/e2e/test_packaging.py checks the same page from the built wheel."""

import re
from importlib.resources import files
from urllib.parse import urlsplit

from tests.plugins.privacy.test_documents import CONTROLLER

# Where an HTML page names something to load or follow: attributes, CSS url() and @import.
REFERENCE = re.compile(r"""(?:\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?|url\(\s*["']?|@import\s+["'])([^"'\s)>]+)""")


def external_references(html: str) -> list[str]:
    """What the page would fetch from (or send to) another host: absolute and protocol-relative URLs."""
    return [url for url in REFERENCE.findall(html) if urlsplit(url).scheme in ("http", "https") or url.startswith("//")]


def test_the_scanner_finds_what_a_browser_would_fetch_elsewhere():
    page = """<link rel="stylesheet" href="https://unpkg.com/graphiql/graphiql.min.css">
    <script src='//cdn.example/react.js'></script><style>@import "https://fonts.example/a.css";
    body { background: url(http://img.example/b.png) }</style><img src="/local.png"><a href="#top">"""
    assert external_references(page) == [
        "https://unpkg.com/graphiql/graphiql.min.css",
        "//cdn.example/react.js",
        "https://fonts.example/a.css",
        "http://img.example/b.png",
    ]


async def test_graphiql_loads_every_file_from_the_app_and_the_files_come_from_the_installed_package(enishi_api):
    api = await enishi_api(environment="development")
    page = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert external_references(page.text) == []
    # And the browser itself refuses anything from elsewhere (tests/e2e/test_graphiql_offline.py
    # renders the page under this policy).
    policy = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == policy["script-src"] == policy["connect-src"] == "'self'"
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    styles = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.text)
    # React before GraphiQL, GraphiQL before its explorer plugin, and the start-up script last.
    assert [urlsplit(url).path.rsplit("/", 1)[1] for url in scripts] == [
        "react-18.2.0.production.min.js",
        "react-dom-18.2.0.production.min.js",
        "graphiql-3.8.3.min.js",
        "graphiql-plugin-explorer-1.0.2.umd.js",
        "enishi-graphiql.js",
    ]
    assert len(styles) == 2
    package = files("enishi.graphql") / "static" / "graphiql"
    for url in scripts + styles:
        served = await api.client.get(url)
        name = urlsplit(url).path.rsplit("/", 1)[1]
        assert served.status_code == 200, url
        assert served.content == (package / name).read_bytes()
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert served.headers["content-type"].startswith("text/javascript" if name.endswith(".js") else "text/css")
    # The start-up script keeps strawberry's features: the explorer plugin and the headers editor.
    startup = (package / "enishi-graphiql.js").read_text(encoding="utf-8")
    assert "explorerPlugin()" in startup and "isHeadersEditorEnabled: true" in startup
    assert (package / "README.md").read_text(encoding="utf-8").count("MIT") >= 6


async def test_only_the_pages_files_are_served_and_only_outside_production(enishi_api):
    development = await enishi_api(environment="development")
    for name in ("README.md", "LICENSE-react", "..%2F..%2Fapp.py", "nothing.js"):
        assert (await development.client.get(f"/graphiql/assets/{name}")).status_code == 404, name
    production = await enishi_api(environment="production")
    assert (await production.client.get("/graphiql/assets/graphiql-3.8.3.min.js")).status_code == 404


async def test_no_html_page_enishi_serves_loads_anything_from_another_host(enishi_api):
    api = await enishi_api(environment="development", extra={"privacy_controller": CONTROLLER})
    link = "mutation($input: PrivacyReportLinkInput!) { privacyReportLink(input: $input) { url userErrors { code } } }"
    report = await api.graphql(link, {"input": {"report": "APPI_PUBLIC_STATEMENT", "format": "HTML"}}, role="compliance")
    pages = {
        "GraphiQL": await api.client.get("/graphql", headers={"Accept": "text/html"}),
        "the APPI public statement": await api.client.get("/privacy/statement"),
        "a report download": await api.client.get(report["privacyReportLink"]["url"]),
        # The survey's page and its answers share one template (plugins/support/hooks.py).
        "the CSAT survey, link not valid": await api.client.get("/support/csat/not-a-token"),
        "the CSAT survey's answer": await api.client.post(
            "/support/csat/not-a-token", data={"rating": "5"}, headers={"Content-Type": "application/x-www-form-urlencoded"}
        ),
    }
    for what, page in pages.items():
        assert page.headers["content-type"].startswith("text/html"), what
        assert "<html" in page.text, what
        assert external_references(page.text) == [], what
