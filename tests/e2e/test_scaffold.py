"""`enishi plugin new` writes a plugin that works at once: pip installs it (as the example plugin
is installed, into a folder of its own), `enishi db upgrade` applies its migration branch, its own
tests pass on Enishi's pytest plugin, and its mutation and fields answer over HTTP."""

import os
import subprocess
import sys

import httpx

from enishi.cli import main
from tests.core.test_plugin_kit import internal_imports
from tests.helpers import enishi, pip_install


def test_a_new_plugin_installs_migrates_passes_its_tests_and_serves(tmp_path, enishi_fresh_migrated, enishi_server):
    written = enishi("plugin", "new", "wishlist", env={}, cwd=tmp_path).stdout
    assert "wrote the plugin wishlist to enishi-wishlist" in written
    source = tmp_path / "enishi-wishlist"
    for path in (source / "enishi_wishlist").rglob("*.py"):  # Enishi only through the kit
        assert internal_imports(path.read_text(encoding="utf-8"), len(path.relative_to(source).parts) - 1) == [], path
    env = {"ENISHI_DATABASE_URL": enishi_fresh_migrated, "PYTHONPATH": str(pip_install(source, tmp_path / "site"))}
    assert "wishlist 0.1.0 (enabled)" in enishi("plugins", env=env).stdout
    enishi("db", "upgrade", env=env)  # the plugin's migration branch
    token = enishi("token", "create", "--role", "sales", env=env).stdout.split()[-1]
    with enishi_server(env) as url:

        def gql(query, variables=None):
            body = httpx.post(
                url + "/graphql",
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
            assert "errors" not in body, body
            return body["data"]

        contact_id = gql('mutation { createContact(input: {familyName: "佐藤", givenName: "一郎"}) { contact { id } } }')[
            "createContact"
        ]["contact"]["id"]
        added = gql(
            """mutation($id: ID!) { addWishlistItem(input: {contactId: $id, note: "万年筆"}) {
                         item { id note } userErrors { field code } } }""",
            {"id": contact_id},
        )["addWishlistItem"]
        assert added["userErrors"] == [] and added["item"]["note"] == "万年筆"
        node = gql("query($id: ID!) { node(id: $id) { ... on Contact { wishlistItems { id note } } } }", {"id": contact_id})
    assert node["node"]["wishlistItems"] == [added["item"]]
    # The plugin's own tests, as its author runs them; on PostgreSQL on a database of their own,
    # which their session empties and migrates anew.
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env, "ENISHI_TEST_DATABASE_URL": enishi_fresh_migrated},
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "6 passed" in tests.stdout


def test_plugin_new_refuses_a_bad_or_taken_name_and_an_existing_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, reason in (
        ("Wish_List", "is not a plugin name"),
        ("wish_list", "is not a plugin name"),
        ("2go", "is not a plugin name"),
        ("support", "a plugin named 'support' is already installed"),
        ("core", "is already installed"),
    ):
        assert main(["plugin", "new", name]) == 1
        error = capsys.readouterr().err
        assert error.startswith("enishi: error: ") and error.count("\n") == 1 and reason in error, error
    (tmp_path / "mine").mkdir()
    assert main(["plugin", "new", "wishlist", "--directory", "mine"]) == 1
    assert capsys.readouterr().err == "enishi: error: mine already exists: choose a new directory (nothing was written)\n"
    assert list(tmp_path.iterdir()) == [tmp_path / "mine"] and not any((tmp_path / "mine").iterdir())
