"""Two real server processes sharing PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess
mode, docs/operations.md): a scrape of either one counts the requests both answered."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_crash_safety import KEK


def _requests_named(url: str, operation: str) -> float:
    text = httpx.get(url + "/metrics", timeout=30).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "enishi_graphql_requests_total" and sample.labels.get("operation") == operation
    )


def test_either_process_reports_the_requests_of_both(enishi_fresh_migrated, enishi_server, tmp_path):
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {"ENISHI_DATABASE_URL": enishi_fresh_migrated, "ENISHI_KEK": KEK, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    query = {"query": "query Counted { contacts { totalCount } }"}  # refused without a token: counted all the same
    with enishi_server(env) as first, enishi_server(env) as second:
        for url, times in ((first, 2), (second, 3)):
            for _ in range(times):
                assert httpx.post(url + "/graphql", json=query, timeout=30).status_code == 401
        assert _requests_named(first, "Counted") == 5
        assert _requests_named(second, "Counted") == 5
