"""Every hook Enishi calls, in one place. This module is the reference: docs/hooks.md is
generated from these docstrings (`enishi hooks-doc`), and a test fails when the two drift.

Conventions
-----------
* Every hook is named `enishi_<something>`; implement it in your plugin's `hooks.py` with
  `@enishi.hookimpl` and take only the arguments you need.
* Contribution hooks are called once at start-up and return a list; the core merges the lists
  of every plugin. They must be synchronous.
* Runtime hooks (events, merges, data-subject hooks) receive the unit of work `uow`. Use
  `uow.session` for your reads and writes so they join the caller's transaction: if your hook
  raises, everything rolls back, your rows and the change that fired the hook alike. They may be
  plain functions or `async def`; the core awaits what needs awaiting, one plugin at a time.
* Installed versus enabled: data-subject hooks are called for every *installed* plugin, even a
  disabled one, so that its personal data is still exported and erased. Every other hook is
  called only for enabled plugins.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("enishi")


# --- contribution hooks (start-up, synchronous) ------------------------------------------------


@hookspec
def enishi_migrations():
    """Return the folder of your Alembic migration scripts (a `str` or `Path`).

    Called by `enishi db upgrade` for every installed plugin. Your first revision must set
    `branch_labels = ("<plugin name>",)` and `down_revision = None`; revisions that need core
    tables set `depends_on = "core"`. Tables are prefixed with the plugin name."""


@hookspec
def enishi_graphql_types():
    """Return a list of strawberry types to add to the schema even when no field names them
    (for example the implementations of an interface)."""


@hookspec
def enishi_graphql_query():
    """Return a list of `@strawberry.type` classes whose fields are merged into the root `Query`.

    Field names must be unique across plugins; prefix your type names (`LoyaltyMember`) because
    global ids carry the type name. A duplicated root field stops start-up."""


@hookspec
def enishi_graphql_mutation():
    """Return a list of `@strawberry.type` classes whose fields are merged into `Mutation`.

    Follow the core's convention: one `input` argument, a payload with the object and
    `userErrors { field message code }`."""


@hookspec
def enishi_graphql_type_fields():
    """Return a list of `(type_name, strawberry.field(resolver=..., name=...))` pairs that add
    fields to existing types, core types included (`("Contact", loyalty_field)` adds
    `Contact.loyalty`). The resolver receives the parent object as `root`; use a DataLoader from
    `info.context.loader(...)` to stay free of N+1 queries."""


@hookspec
def enishi_http_routes():
    """Return a list of starlette routes to mount beside `/graphql` (paths should start with
    `/<plugin>/`). They are **not** authenticated by the core: use them for links that carry their
    own proof, such as a survey link with a single-use token, and check it yourself."""


@hookspec
def enishi_activity_types():
    """Return a list of `enishi.ActivityType`: the kinds of timeline entry your plugin writes.

    Logging an activity of an unregistered type is refused with code `UNKNOWN_ACTIVITY_TYPE`."""


@hookspec
def enishi_event_types():
    """Return a list of `enishi.EventType`: the events your plugin emits (or, like loyalty's
    `purchase.recorded`, invites others to emit), each declared once with its entity, payload
    fields and when it fires. Emit them with `await uow.emit(EVENT_TYPE, entity_id, payload)`.

    Emitting an undeclared type is an error, and so is a payload unlike its declaration while
    `validate_events` is on (the test fixtures turn it on). A name declared twice stops start-up.
    Called for installed plugins, enabled or not. The declared events are listed under "Events"
    below."""


@hookspec
def enishi_permissions():
    """Return a list of `enishi.Permission(name, description, roles, scope=None)`.

    Check them in resolvers with `info.context.require("<name>")`. A permission name used in a
    check but contributed by no plugin is an error at the first check. `scope` names the token
    scope that grants it (`<area>:read`, `<area>:write` or a narrower one); left out, it is
    `<first part of the name>:read` for a name ending in `.read` and `…:write` otherwise. A token
    created with scopes holds only the permissions of its role that they grant."""


@hookspec
def enishi_scheduled_jobs():
    """Return a list of `enishi.ScheduledJob`: periodic, idempotent work run by `enishi worker`."""


@hookspec
def enishi_cli_commands():
    """Return a list of `enishi.CliCommand`: subcommands added to the `enishi` CLI."""


@hookspec
def enishi_workflow_step_types():
    """Return a list of `enishi.WorkflowStepType`: steps workflow definitions may use beside the
    built-in ones (`create_task`, `wait`, …), such as the sales plugin's `sales.move_deal_stage`.
    The automation plugin checks a definition's step against its `parameters` and runs it exactly
    once per run. A plugin's triggers are its declared event types (`enishi_event_types`): any
    of them may start a workflow."""


@hookspec
def enishi_import_columns():
    """Return a list of `enishi.ImportColumn`: columns of yours that the contact import reads (and
    the export writes) beside the core's, matched by their header spellings or mapped by key."""


@hookspec
def enishi_segment_terms():
    """Return a list of `SegmentTerm`: the terms your plugin adds to saved segments' filters
    (ABM's account tier, loyalty's member tier). A term's key starts with your plugin's name."""


@hookspec
def enishi_personal_data():
    """Return a list of `enishi.PersonalDataField` describing every column of yours that holds
    personal data: the catalog behind data-subject requests and records of processing.

    Called for installed plugins, enabled or not."""


# --- runtime hooks (unit of work) -------------------------------------------------------------


@hookspec
def enishi_demo_data(uow, rng, account_ids, contact_ids):
    """Add your plugin's share of `enishi demo`: rows for some of the demo accounts and contacts
    (lists of ids), in the same transaction. Draw every choice from `rng` (a seeded
    `random.Random`) so the same seed gives the same data."""


@hookspec
def enishi_on_event(event, uow):
    """Called for every domain event, inside the transaction that caused it.

    `event` is an `enishi.Event` of a declared type (every one is listed under "Events" below);
    compare it with the declaration, never a string: `if event.is_(CONTACT_UPDATED): …`.
    Raise to veto the change: the whole unit of work rolls back. Emit further events with
    `await uow.emit(EVENT_TYPE, entity_id, payload)`. The same event is also written to the outbox
    for delivery after commit; do not send mail or call webhooks from here (see
    `enishi_deliver_event`)."""


@hookspec
def enishi_on_events(events, uow):
    """Events of one type raised together (`uow.emit_many`: an import's chunk of 500 notes, or of
    new contacts), at once, inside the transaction that caused them: react to the lot in a few
    statements instead of a few an event (the bundled plugins check, look up and update for all
    the events' contacts and accounts at once).

    Which hook hears what: events raised together (two or more) go to `enishi_on_events` if your
    plugin implements it, else one by one to `enishi_on_event`; an event raised alone (`uow.emit`,
    or `emit_many` of one) goes to `enishi_on_event` if you implement it, else to
    `enishi_on_events` as a list of one. Either way
    each event reaches your plugin exactly once, so a plugin implementing both handles in
    `enishi_on_events` every type it hears (the bundled ones call their own `enishi_on_event` for
    the types they do not batch). The plugins run one after the other, each on the whole list:
    raise to veto, and the whole unit of work rolls back, as with `enishi_on_event`."""


@hookspec
def enishi_deliver_event(event, runtime):
    """Deliver a committed event outside Enishi — send the mail (`enishi.mail.send_for_event`), call the
    webhook — if it is yours to deliver; ignore the others. The worker's `core.outbox` job calls
    this after commit, oldest event first, at least once: use `event.id` to stay idempotent (as a
    mail's Message-ID, for example). Raise to have the event retried later with backoff; every
    plugin is called again then, so each delivery must be idempotent. Payload keys beginning with
    `_` (one-time codes) are for delivery only: the outbox forgets them once it is delivered."""


@hookspec
def enishi_merge(uow, entity, survivor_id, merged_ids, dry_run):
    """Called when contacts or accounts are merged (`entity` is `"contact"` or `"account"`).

    Re-point your rows from each id in `merged_ids` to `survivor_id` (unless `dry_run`) and
    return a list of `enishi.MergeMove` saying what moved (or would move)."""


@hookspec
def enishi_subject_collect(uow, subject):
    """Return a dict with everything you hold about `subject` (an `enishi.DataSubject`), for
    access and portability exports; `None` or `{}` if you hold nothing. Values must be JSON
    serialisable. Never include other people's data from shared records."""


@hookspec
def enishi_subject_erase(uow, subject):
    """Erase everything you hold about `subject`, per the erasure strategy of each field, and
    return an `enishi.ErasureReport`. Must be idempotent: a second call after a crash finishes
    the work and reports zero for what is already gone.

    Records under a legal hold must be kept: `report.hold_back(subject, "your_table", ids)` returns
    the held ids among `ids` (and reports them as retained, with the hold's basis); erase the rest.
    The privacy plugin calls you again when the hold ends."""


@hookspec
def enishi_request_finished(runtime, actor_id, personal_reads):
    """Called after each GraphQL request over HTTP, outside any transaction (open
    `runtime.unit_of_work(actor_id)` to write), before the response is sent; raising fails the
    request. An export (`enishi export`, a download link) calls it for each batch of rows, before
    the batch is written to the file. `actor_id` is the viewer's user id (None without a token); `personal_reads` the set of
    what the request decrypted: people's contact ids, and `(model, record id)` for sealed records
    whose people the row does not name (`enishi.sealing.people_read` resolves both to people).
    The core's own implementation hands the people read to `enishi_personal_data_read`."""


@hookspec
def enishi_metrics(runtime, session, now):
    """Return a list of `enishi.GaugeReading` (may be async): gauges read from the database at
    each scrape of GET /metrics, such as a backlog or recent failures, so that every server process
    reports the same figures. `session` is a read-only session, `now` the injected clock's time.
    Keep to a few cheap, indexed counts: a monitoring system scrapes every 15 to 60 seconds."""


@hookspec
def enishi_personal_data_read(uow, contact_ids):
    """People whose encrypted personal data a GraphQL request decrypted (a contact's fields, and
    records' sealed text: the people `Sealable.subjects_of` names), called after the request with
    `uow.actor_id` the reader: the privacy plugin's access log records them. Runs in its own
    transaction; raising fails the request. A plugin route showing personal data to staff calls
    it too."""


@hookspec
def enishi_holdable_types():
    """Return the tables (`"support_ticket"`) whose records a legal hold can keep: those your
    `enishi_subject_erase` passes to `report.hold_back`. The privacy plugin's `placeLegalHold`
    accepts ids of the Node types backed by these tables (through `node_resolver`) only, so that
    no hold is placed that no erasure would honour."""


@hookspec
def enishi_retainable_entities():
    """Return a list of `enishi.RetainableEntity`: the kinds of record of yours a retention rule
    may cover (a ticket five years after it was closed), with how to find the records whose
    period has run and how to anonymise or delete them. The privacy plugin's sweep calls them
    for the rules compliance sets, skipping records under a legal hold and people with an open
    data-subject request. Called for installed plugins, enabled or not."""


@hookspec
def enishi_sensitive_capable_fields():
    """Return a list of `enishi.SensitiveCapableField`: the sealed fields of your records that may
    hold sensitive personal data (要配慮個人情報), which compliance may mark sensitive with the
    privacy plugin's `markFieldSensitive` — the core offers its contacts' custom fields. Marked,
    such a field needs the person's consent or a legal ground to be written, and you keep it out of
    everything that selects people or hands data out."""


@hookspec
def enishi_extract_sources():
    """Return a list of `enishi.ExtractSource`: the kinds of record of yours a pseudonymised extract
    (仮名加工情報) may be made of, with how to read them with every identifier left out and which
    columns hold ids to be replaced by keyed HMACs. The privacy plugin's `createPrivacyExtract`
    offers them beside its own `contacts`. Called for enabled plugins only: a disabled plugin's
    records are not offered until it is enabled again."""


# --- cooperation hooks (a provider plugin answers; callers work without one) -------------------


@hookspec
def enishi_consent_check(uow, contact_ids, purpose):
    """Answer whether each contact may be processed for `purpose` (`"marketing"`, …).

    Return a dict `{contact_id: bool}`; a contact missing from the dict counts as no consent.
    Implemented by the privacy plugin. Callers (ABM's audience export, marketing in loyalty) ask
    only when some plugin implements it: with no consent ledger installed they proceed."""


@hookspec(firstresult=True)
def enishi_consent_withdrawal_link(settings, contact_id, purpose):
    """An absolute link with which the contact withdraws their consent to `purpose` without a
    login (for the mails that purpose allows: an unsubscribe link, RFC 8058's `List-Unsubscribe`),
    or None when you keep no consent ledger. Implemented by the privacy plugin (its one-click
    `/privacy/withdraw/{token}`, under `ENISHI_PUBLIC_URL`); the automation plugin's `send_email`
    step asks. Raises `ConfigError` when links need a public address and none is set."""


@hookspec
def enishi_record_provision(uow, contact_ids, recipient, purpose, data_items):
    """Record that the contacts' personal data (`data_items`: the fields sent, e.g. `["name",
    "email"]`) is provided outside the business to `recipient` (a name in the privacy plugin's
    recipient register) for `purpose` (APPI 法第29条 provision records). Call it in the unit of
    work that hands the data over, before handing it over: an implementation may refuse the
    provision by raising `InputError` (the privacy plugin does for a recipient not registered,
    a transfer abroad without its legal route or consent, a third party without consent), which
    rolls back the whole unit of work. Every bundled exporter that sends data to someone else
    calls it (ABM's third-party audience export, the core's exports given a `provision`)."""


@hookspec
def enishi_sensitive_fields(session, entity):
    """Return the names of the fields of `entity` (`"contact"`, `"support_ticket"`, …) that hold
    sensitive personal data (APPI 要配慮個人情報, GDPR Art. 9): `custom_fields.<key>` for a custom
    field. May be async; runs in `session` (read it, write nothing). The core merges every plugin's
    answer and keeps such fields of contacts out of filter terms, exports and the eyes of roles
    without `crm.read_sensitive`, and puts each write of one to `enishi_field_write_guard`; a
    plugin does the same for its records through the kit. The privacy plugin answers from its
    register (`markFieldSensitive`)."""


@hookspec
def enishi_field_write_guard(uow, entity, record_id, subject_ids, fields):
    """A write is about to set `fields` (sensitive ones, as `enishi_sensitive_fields` names them)
    of the `entity` record `record_id` (None while it is being created), which holds data about the
    contacts `subject_ids` (the contact itself, a ticket's requester; empty when no one is known
    yet). Raise `InputError` to refuse it: the unit of work rolls back and nothing is written. The
    privacy plugin refuses unless every one of them has consented (purpose `sensitive_data`) or
    has a legal ground recorded — and when no one is named."""


@hookspec
def enishi_won_deals(session, until):
    """Every deal won with a close date before `until` (a date), for revenue reports such as the
    insights plugin's expansion revenue.

    Receives a read-only session. Return a list of `WonDeal` (may be awaitable). Implemented by
    the sales plugin; with no implementation, reports leave deal revenue out rather than show 0."""


@hookspec
def enishi_customer_signals(session, kind, customer_ids, since, now):
    """What a plugin knows about these customers' health, for churn-risk scores (the insights
    plugin's): `kind` is `"contact"` or `"account"`, `customer_ids` the customers asked about,
    or None for every customer of `kind` you know something about (the daily job scoring
    everyone asks once rather than in IN lists of 1,000 ids); `since` the start of the look-back
    window (counts are of events at or after it, up to `now`, the injected clock's instant).

    Receives a read-only session. Return a list of `CustomerSignal` (may be awaitable); leave out
    a customer you know nothing about. Support reports tickets and SLA breaches, loyalty the last
    points movement, surveys the latest NPS answer (the names are listed on `CustomerSignal`).
    The asker must not need the answering plugin installed, nor the other way round."""


@hookspec(firstresult=True)
def enishi_segment_members(session, segment_id):
    """The members of the saved segment `segment_id` (its raw uuid) as of its last evaluation: a
    pair (`"contact"` or `"account"`, list of ids), or None when you keep no such segment. The
    insights plugin answers; ABM's audience export asks (an audience can be a saved segment).
    Receives a read session; may be async."""
