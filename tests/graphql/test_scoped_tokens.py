"""Token expiry over HTTP, and what scopes grant. Which root field each scoped token reaches is
checked field by field in tests/robustness/test_authorization_matrix.py."""

import datetime as dt

from enishi.auth import PUBLIC

QUERY = "{ accounts { totalCount } }"


async def test_a_token_past_its_expiry_is_refused_with_token_expired(api):
    expiring = await api.scoped_token("sales", expires_at=api.clock.now() + dt.timedelta(hours=1))
    lasting = await api.token("sales")
    assert (await api.graphql(QUERY, token=expiring))["accounts"]["totalCount"] == 0
    api.clock.advance(minutes=59, seconds=59)
    assert (await api.graphql(QUERY, token=expiring))["accounts"]["totalCount"] == 0
    api.clock.advance(seconds=1)  # the instant of expiry
    refused = await api.post(QUERY, token=expiring)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "TOKEN_EXPIRED" and "2024-06-10T01:00:00+00:00" in error["message"]
    assert (await api.graphql(QUERY, token=lasting))["accounts"]["totalCount"] == 0  # a token without expiry lasts
    # Even a request a token is not needed for says so: the caller meant to use the token.
    public = 'mutation { submitDataSubjectRequest(input: {type: "access", email: "a@b.jp"}) { message } }'
    assert (await api.post(public, token=expiring)).json()["errors"][0]["extensions"]["code"] == "TOKEN_EXPIRED"


async def test_write_scopes_include_reading_and_public_needs_no_scope(api):
    scopes = api.runtime.permissions.scopes
    for scope, granted in scopes.items():
        area, level = scope.split(":")
        if level == "write" and f"{area}:read" in scopes:
            assert scopes[f"{area}:read"] < granted, scope
    assert all(PUBLIC not in granted for granted in scopes.values())
    token = await api.scoped_token("integration", ["loyalty:read"])
    body = (
        await api.post('mutation { submitDataSubjectRequest(input: {type: "access", email: "a@b.jp"}) { message } }', token=token)
    ).json()
    assert "errors" not in body, body
