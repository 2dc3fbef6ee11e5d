"""The mixed load bench/load.py drives with locust (headless): what one CRM user does, weighted
as the issue's mix — reads of contact pages and timelines 70 %, searches 10 %, creates and updates
10 %, loyalty spends and ticket replies 10 % — as fast as the servers answer (no think time:
the figures are the servers' capacity, and the latencies are under that saturation).

Inputs from bench/load.py, in the environment: ENISHI_LOAD_SEED (a JSON file: the token, the
servers' URLs, contact, member and ticket ids the seed made), ENISHI_LOAD_OUT (a folder) and
optionally ENISHI_LOAD_ONLY (the one task to run, by its method's name).
Outputs there: `writes.jsonl`, one line per acknowledged write (what was written and its id, so
that load.py can look every one of them up afterwards), and `summary.json` at exit (per
operation: requests, failures, 5xx, throughput, p50/p95/p99)."""

import itertools
import json
import os
import random
import uuid
from pathlib import Path
from typing import Any

from locust import FastHttpUser, events, task

SEED = json.loads(Path(os.environ["ENISHI_LOAD_SEED"]).read_text())
ONLY = os.environ.get("ENISHI_LOAD_ONLY")  # one task's name (`load.py --only reply`): a focused run
OUT = Path(os.environ["ENISHI_LOAD_OUT"])
WRITES = (OUT / "writes.jsonl").open("a", buffering=1)  # one line per write, whole (greenlets share it)
SERVERS = itertools.cycle(SEED["servers"])  # users take the servers in turn: an even split
SEARCHES = ["山田", "佐藤", "鈴木", "やまだ", "タナカ", "Smith", "伊藤", "渡辺"]
status_5xx: dict[str, int] = {}

CONTACT_PAGE = """query ContactPage($id: ID!) { node(id: $id) { ... on Contact {
  displayName primaryEmail jobTitle phones { e164 } primaryAccount { name } owner { displayName }
  tasks { title } loyalty { balance tier { name } } tickets(first: 3) { totalCount edges { node { subject status } } } } } }"""
TIMELINE = """query Timeline($id: ID!) { node(id: $id) { ... on Contact {
  timeline(first: 20) { edges { node { type occurredAt summary actor { displayName } } } } } } }"""
SEARCH = """query Search($q: String!) { contacts(first: 20, filter: {search: $q}) {
  totalCount edges { node { id displayName primaryEmail primaryAccount { name } } } } }"""
CREATE = """mutation Create($family: String!, $email: String!) { createContact(input: {familyName: $family,
  givenName: "負荷", emails: [{address: $email}]}) { contact { id } userErrors { code } } }"""
UPDATE = """mutation Update($id: ID!, $title: String!) { updateContact(input: {id: $id, jobTitle: $title}) {
  contact { id jobTitle } userErrors { code } } }"""
SPEND = """mutation Spend($member: ID!, $key: String!) { spendPoints(input: {memberId: $member, amount: 1,
  idempotencyKey: $key}) { entry { id } userErrors { code } } }"""
REPLY = """mutation Reply($ticket: ID!, $body: String!) { replyToTicket(input: {ticketId: $ticket, body: $body}) {
  ticket { id } userErrors { code } } }"""


class CrmUser(FastHttpUser):
    def __init__(self, environment) -> None:
        self.host = next(SERVERS)  # set before FastHttpUser builds its client on it
        super().__init__(environment)
        self.created: list[str] = []  # contacts this user created: only it updates them, so the last
        # acknowledged update of each is what the database must hold afterwards

    def graphql(self, name: str, query: str, variables: dict[str, Any], field: str | None = None) -> dict | None:
        """POST one operation; counts as a failure unless it answers 200 with data and no
        errors or userErrors. Returns `field` of the data (the whole data without `field`)."""
        with self.client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {SEED['token']}"},
            name=name,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return None
            body = response.json()
            if body.get("errors"):
                response.failure(body["errors"][0].get("extensions", {}).get("code", "error"))
                return None
            data = body["data"] if field is None else body["data"][field]
            if field is not None and data.get("userErrors"):
                response.failure(data["userErrors"][0]["code"])
                return None
            return data

    @task(35)
    def contact_page(self) -> None:
        self.graphql("contact page", CONTACT_PAGE, {"id": random.choice(SEED["contacts"])})

    @task(35)
    def timeline(self) -> None:
        self.graphql("timeline", TIMELINE, {"id": random.choice(SEED["contacts"])})

    @task(10)
    def search(self) -> None:
        self.graphql("search", SEARCH, {"q": random.choice(SEARCHES)})

    @task(5)
    def create_contact(self) -> None:
        family = f"負荷{uuid.uuid4().hex[:12]}"
        data = self.graphql("create contact", CREATE, {"family": family, "email": f"{family[2:]}@example.jp"}, "createContact")
        if data is not None:
            self.created.append(data["contact"]["id"])
            WRITES.write(json.dumps({"kind": "contact", "id": data["contact"]["id"], "familyName": family}) + "\n")

    @task(5)
    def update_contact(self) -> None:
        if not self.created:
            return self.create_contact()
        contact, title = random.choice(self.created), f"役職{uuid.uuid4().hex[:8]}"
        # Written before sending: a user stopped at the end of a run after the server applied its
        # update but before the answer came leaves a later, unacknowledged title in the database.
        WRITES.write(json.dumps({"kind": "update sent", "id": contact, "jobTitle": title}) + "\n")
        if self.graphql("update contact", UPDATE, {"id": contact, "title": title}, "updateContact") is not None:
            WRITES.write(json.dumps({"kind": "update", "id": contact, "jobTitle": title}) + "\n")

    @task(5)
    def spend(self) -> None:
        data = self.graphql(
            "loyalty spend", SPEND, {"member": random.choice(SEED["members"]), "key": uuid.uuid4().hex}, "spendPoints"
        )
        if data is not None:
            WRITES.write(json.dumps({"kind": "spend", "id": data["entry"]["id"]}) + "\n")

    @task(5)
    def reply(self) -> None:
        ticket, body = random.choice(SEED["tickets"]), f"返信 {uuid.uuid4().hex}"
        if self.graphql("ticket reply", REPLY, {"ticket": ticket, "body": body}, "replyToTicket") is not None:
            WRITES.write(json.dumps({"kind": "reply", "id": ticket, "body": body}) + "\n")


if ONLY:
    CrmUser.tasks = [getattr(CrmUser, ONLY)]


@events.request.add_listener
def count_5xx(name: str, response, **_) -> None:
    if response is not None and (response.status_code or 0) >= 500:
        status_5xx[name] = status_5xx.get(name, 0) + 1


@events.quitting.add_listener
def write_summary(environment, **_) -> None:
    operations = {}
    for entry in [*environment.stats.entries.values(), environment.stats.total]:
        operations[entry.name] = {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "5xx": status_5xx.get(entry.name, 0) if entry.name != "Aggregated" else sum(status_5xx.values()),
            "rps": entry.total_rps,
            **{f"p{q}_ms": entry.get_response_time_percentile(q / 100) for q in (50, 95, 99)},
        }
    errors = {f"{error.name}: {error.error}": error.occurrences for error in environment.stats.errors.values()}
    (OUT / "summary.json").write_text(json.dumps({"operations": operations, "errors": errors}, ensure_ascii=False, indent=2))
