"""The example plugin of docs/plugin-tutorial.md, installed with pip like any third-party plugin,
adds a type, a field on Contact, a mutation, an event hook, a migration and a CLI command, with no
change to the core."""

from pathlib import Path

import httpx
import pytest

from tests.helpers import enishi, pip_install

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    return pip_install(ROOT / "docs" / "example_plugin", tmp_path_factory.mktemp("site"))


def run(env, *args):
    return enishi(*args, env=env).stdout


def test_hook_enishi_cli_commands_and_the_whole_example_plugin(plugin_site, enishi_fresh_migrated, enishi_server):
    env = {"ENISHI_DATABASE_URL": enishi_fresh_migrated, "PYTHONPATH": str(plugin_site)}
    plugins = run(env, "plugins")
    assert "nps 1.0.0 (enabled)" in plugins and "insights" in plugins  # beside the bundled insights surveys
    sdl = run(env, "schema")
    assert "type NpsSurveyResponse" in sdl and "nps: NpsSurveyResponse" in sdl and "recordNps(input: RecordNpsInput!)" in sdl
    assert "type InsightsSurvey " in sdl and "npsScore(" in sdl and "netPromoterScore" in sdl
    run(env, "db", "upgrade")  # the plugin's migration branch comes along
    token = run(env, "token", "create", "--role", "sales").split()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    with enishi_server(env) as url:

        def gql(query, variables=None):
            body = httpx.post(url + "/graphql", json={"query": query, "variables": variables or {}}, headers=headers).json()
            assert "errors" not in body, body
            return body["data"]

        contact = gql('mutation { createContact(input: {familyName: "山田", givenName: "太郎"}) { contact { id } } }')
        contact_id = contact["createContact"]["contact"]["id"]
        bad = gql(
            "mutation($id: ID!) { recordNps(input: {contactId: $id, score: 11}) { response { score } "
            "userErrors { field code } } }",
            {"id": contact_id},
        )
        assert bad["recordNps"] == {"response": None, "userErrors": [{"field": "score", "code": "OUT_OF_RANGE"}]}
        recorded = gql(
            """mutation($id: ID!) { recordNps(input: {contactId: $id, score: 9, comment: "とても良い"}) {
                            response { score category } userErrors { code } } }""",
            {"id": contact_id},
        )
        assert recorded["recordNps"] == {"response": {"score": 9, "category": "promoter"}, "userErrors": []}
        # The event hook: a meeting creates a follow-up task in the same transaction.
        gql(
            'mutation($id: ID!) { logActivity(input: {type: "meeting", summary: "定例", contactIds: [$id]}) '
            "{ userErrors { code } } }",
            {"id": contact_id},
        )
        node = gql(
            """query($id: ID!) { node(id: $id) { ... on Contact { nps { score comment } tasks { title }
                       timeline { edges { node { type sourcePlugin } } } } } netPromoterScore
                       npsScore(from: "2020-01-01", to: "2029-12-31") { responses } }""",
            {"id": contact_id},
        )
    assert node["node"]["nps"] == {"score": 9, "comment": "とても良い"}
    assert node["node"]["tasks"] == [{"title": "NPSアンケートを依頼 / Ask for an NPS score"}]
    assert {"type": "nps.response", "sourcePlugin": "nps"} in [e["node"] for e in node["node"]["timeline"]["edges"]]
    assert node["netPromoterScore"] == 100.0
    assert node["npsScore"] == {"responses": 0}  # the third-party plugin's answers are its own (no `survey.answered`)
    assert run(env, "nps-report").strip() == "NPS: 100.0"
