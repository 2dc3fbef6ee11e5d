"""Oversized filters and texts, and date-times without an offset, are refused with a typed error."""

from tests.helpers import create_contact

CONTACTS = "query($filter: ContactFilter) { contacts(filter: $filter) { totalCount } }"


async def test_a_filter_of_a_thousand_or_terms_is_too_complex(api):
    await create_contact(api, familyName="山田", givenName="太郎")
    wide = {"or": [{"search": f"山田{i}"} for i in range(1000)]}
    errors = await api.errors(CONTACTS, {"filter": wide})
    assert [e["extensions"]["code"] for e in errors] == ["FILTER_TOO_COMPLEX"]
    nested = {"and": [{"or": [{"not": {"search": "x"}} for _ in range(40)]} for _ in range(3)]}
    assert (await api.errors(CONTACTS, {"filter": nested}))[0]["extensions"]["code"] == "FILTER_TOO_COMPLEX"
    within = {"or": [{"search": f"山田{i}"} for i in range(99)]}
    assert (await api.graphql(CONTACTS, {"filter": within}))["contacts"]["totalCount"] == 0


async def test_a_search_term_of_fifty_thousand_characters_is_too_long(api):
    await create_contact(api, familyName="山田", givenName="太郎")
    for filter in (
        {"search": "山" * 50_000},
        {"jobTitle": {"eq": "a" * 50_000}},
        {"or": [{"email": {"eq": "x" * 50_000}}]},
        {"customField": [{"key": "k", "eq": "v" * 50_000}]},
    ):
        errors = await api.errors(CONTACTS, {"filter": filter})
        assert [e["extensions"]["code"] for e in errors] == ["INPUT_TOO_LONG"], filter
        assert "山" * 100 not in errors[0]["message"]
    errors = await api.errors("query($s: String) { kbArticles(search: $s) { totalCount } }", {"s": "検索" * 25_000})
    assert errors[0]["extensions"]["code"] == "INPUT_TOO_LONG"


async def test_a_nul_character_in_a_search_is_a_typed_error(api):
    # Variables holding NUL are refused by the HTTP view; an escape in the document reached
    # PostgreSQL, which refuses NUL in a statement's text (INTERNAL before). No stored text holds one.
    for query in (
        '{ kbArticles(search: "a\\u0000b") { totalCount } }',
        '{ contacts(filter: {search: "a\\u0000b"}) { totalCount } }',
        # Any field's text argument, a plugin's included (the fuzz test found these two on PostgreSQL).
        '{ contracts(status: "a\\u0000b") { totalCount } }',
        '{ quotes(number: "Q\\u0000") { totalCount } }',
    ):
        errors = await api.errors(query)
        assert errors[0]["extensions"]["code"] == "INVALID_CHARACTERS", query


async def test_an_expiry_horizon_past_the_calendar_is_an_invalid_argument(api):
    program = (await api.mutate("createLoyaltyProgram", {"name": "Points"}, "program { id }"))["program"]["id"]
    errors = await api.errors(
        "query($p: ID!) { membersWithExpiringPoints(programId: $p, withinDays: 2000000000) { totalCount } }", {"p": program}
    )
    assert errors[0]["extensions"]["code"] == "INVALID_ARGUMENT"


async def test_a_date_time_argument_without_an_offset_is_a_typed_error_wherever_it_lands(api):
    errors = await api.errors('{ supportMetrics(from: "2024-06-10T09:00:00") { key } }')
    assert [(e["extensions"]["code"], e["message"]) for e in errors] == [
        ("NAIVE_DATETIME", "a date-time needs a time zone offset")
    ]
    assert await api.graphql('{ supportMetrics(from: "2024-06-10T09:00:00+09:00") { key } }') == {"supportMetrics": []}
