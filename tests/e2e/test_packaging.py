"""The wheel `python -m build` makes is a working Enishi outside the checkout, and a plain
`pip install -e .` stops with a message pointing at `make install` instead of installing an Enishi
without its GraphQL layer (setup.py explains why).

Both run in a fresh virtual environment that sees this test environment's packages through a
`.pth` line (the dependencies are not downloaded again; `.pth` files found there are not processed,
so the checkout's own editable Enishi stays invisible). Nothing here uses the database under test,
so the module runs once, in the SQLite pass of `make test`, not again in the PostgreSQL pass."""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("ENISHI_TEST_DATABASE_URL")), reason="independent of the database; runs in the SQLite pass"
)
# What a source checkout holds that a build must not see: environments, earlier builds, caches.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.db*", ".enishi-kek", "enishi-data"
)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A copy of the checkout: building writes build/ and *.egg-info, and the checkout's build/
    holds the links of its strict editable install."""
    copy = tmp_path_factory.mktemp("packaging") / "enishi-src"
    shutil.copytree(ROOT, copy, ignore=NOT_SOURCE)
    return copy


def _fresh_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site_packages = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site_packages, "test-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return python


def _run(*command, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(source, tmp_path_factory) -> Path:
    """A fresh environment with the built wheel installed: its `bin` folder."""
    dist = tmp_path_factory.mktemp("dist")
    built = _run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, source, cwd=source)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = dist.glob("enishi-*.whl")
    python = _fresh_venv(tmp_path_factory.mktemp("wheel-env") / "venv")
    install = _run(python, "-m", "pip", "install", "--no-deps", "--no-index", wheel, cwd=dist)
    assert install.returncode == 0, install.stdout + install.stderr
    return python.parent


def _wait_for_server(process: subprocess.Popen, url: str) -> None:
    """Polls until the server answers (start-up time varies with the machine's load); a server
    that exits fails at once with its output."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"enishi serve exited: {process.stdout.read() if process.stdout else None}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("enishi serve did not start")


def test_the_built_wheel_works_outside_the_checkout(installed, tmp_path):
    work = tmp_path / "elsewhere"  # no checkout on sys.path: only the installed wheel can answer
    work.mkdir()
    env = {
        **os.environ,
        "ENISHI_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'enishi.db'}",
        "ENISHI_KEK": "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=",
    }
    env.pop("ENISHI_CONFIG", None)
    enishi = installed / "enishi"

    located = _run(installed / "python", "-c", "import enishi, enishi.graphql.schema; print(enishi.__file__)", cwd=work, env=env)
    assert located.returncode == 0, located.stderr
    assert Path(located.stdout.strip()).is_relative_to(installed.parent), located.stdout
    vendored = Path(located.stdout.strip()).parent / "graphql" / "static" / "graphiql"
    assert {"README.md", "LICENSE-react", "LICENSE-graphiql"} <= {path.name for path in vendored.iterdir()}

    upgraded = _run(enishi, "db", "upgrade", cwd=work, env=env)
    assert upgraded.returncode == 0 and "database is up to date" in upgraded.stdout, upgraded.stderr
    schema = _run(enishi, "schema", cwd=work, env=env)  # the committed SDL has the bundled plugins' types: entry points work
    assert schema.returncode == 0 and schema.stdout == (ROOT / "docs" / "schema.graphql").read_text(encoding="utf-8")

    scaffolded = _run(enishi, "plugin", "new", "wishlist", cwd=work, env=env)  # its templates are package data
    assert scaffolded.returncode == 0, scaffolded.stderr
    written = sorted(str(path.relative_to(work / "enishi-wishlist")) for path in (work / "enishi-wishlist").rglob("*.*"))
    assert {
        "pyproject.toml",
        "enishi_wishlist/hooks.py",
        "enishi_wishlist/migrations/versions/0001_wishlist_tables.py",
        "tests/test_wishlist.py",
    } <= set(written), written

    token = _run(enishi, "token", "create", "--role", "admin", cwd=work, env=env).stdout.split()[-1]
    port = free_port()
    server = subprocess.Popen(
        [str(enishi), "serve", "--port", str(port)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/graphql"
        _wait_for_server(server, url)
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            url,
            headers=headers,
            json={
                "query": 'mutation { createContact(input: {familyName: "山田"}) { contact { displayName } userErrors { code } } }'
            },
        )
        assert created.json()["data"]["createContact"] == {"contact": {"displayName": "山田"}, "userErrors": []}
        counted = httpx.post(url, headers=headers, json={"query": "{ contacts { totalCount } }"})
        assert json.loads(counted.text) == {"data": {"contacts": {"totalCount": 1}}}
        # GraphiQL's files are package data, served from the installed wheel (graphql/ide.py).
        page = httpx.get(url, headers={"Accept": "text/html"})
        assets = re.findall(r'(?:src|href)="(/graphiql/assets/[^"]+)"', page.text)
        assert len(assets) == 7, page.text
        for asset in assets:
            name = asset.split("?")[0].rsplit("/", 1)[1]
            served = httpx.get(f"http://127.0.0.1:{port}{asset}")
            assert served.status_code == 200 and served.content == (ROOT / "graphql" / "static" / "graphiql" / name).read_bytes()
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["status"] == "ready"
        # The console's templates, stylesheet and compiled Japanese catalog are package data.
        console = url.removesuffix("/graphql") + "/console"
        sign_in = httpx.get(console + "/sign-in", headers={"Accept-Language": "ja"})
        assert sign_in.status_code == 200 and "<h1>サインイン</h1>" in sign_in.text
        assert httpx.get(console + "/static/console.css").status_code == 200
        # So are the privacy plugin's pages for data subjects, with their own catalog.
        subject = httpx.get(url.removesuffix("/graphql") + "/privacy/requests/new", headers={"Accept-Language": "ja"})
        assert subject.status_code == 200 and "<h1>ご自身の個人データについての請求</h1>" in subject.text
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_plain_editable_install_says_to_use_make_install(source, tmp_path):
    python = _fresh_venv(tmp_path / "venv")
    install = _run(python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-e", source, cwd=source)
    assert install.returncode != 0
    assert "Run `make install`" in install.stdout + install.stderr
    strict = _run(
        python,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-e",
        source,
        "--config-settings",
        "editable_mode=strict",
        cwd=source,
    )
    assert strict.returncode == 0, strict.stdout + strict.stderr
    imported = _run(python, "-c", "import strawberry, enishi.graphql.schema", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
