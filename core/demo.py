"""A realistic demo data set at any scale: Japanese and English companies (with subsidiaries) and
people (kana, full-width input, +81 and +1 numbers), a timeline, tasks, and every plugin's share.

`enishi demo --scale 10000` is the benchmarks' smoke data set; `--scale 1000000` is run by hand
(see bench/README.md)."""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections.abc import Callable

from sqlalchemy import func, select

from .auth import create_user
from .db import analyze, insert_rows, new_id
from .models import (
    Account,
    Activity,
    ActivityKey,
    ActivityTarget,
    Contact,
    ContactAccount,
    ContactEmail,
    ContactPhone,
    ContactSearchToken,
    SubjectKey,
    Task,
    TaskKey,
)
from .normalize import company_match_name, normalize_phone
from .services.accounts import account_search_text
from .services.contacts import NAME_FIELDS, bulk_contact_rows

JA_FAMILY = [
    ("佐藤", "サトウ", "sato"),
    ("鈴木", "スズキ", "suzuki"),
    ("高橋", "タカハシ", "takahashi"),
    ("田中", "タナカ", "tanaka"),
    ("伊藤", "イトウ", "ito"),
    ("渡辺", "ワタナベ", "watanabe"),
    ("山本", "ヤマモト", "yamamoto"),
    ("中村", "ナカムラ", "nakamura"),
    ("小林", "コバヤシ", "kobayashi"),
    ("加藤", "カトウ", "kato"),
    ("吉田", "ヨシダ", "yoshida"),
    ("山田", "ヤマダ", "yamada"),
    ("佐々木", "ササキ", "sasaki"),
    ("山口", "ヤマグチ", "yamaguchi"),
    ("松本", "マツモト", "matsumoto"),
    ("井上", "イノウエ", "inoue"),
]
JA_GIVEN = [
    ("太郎", "タロウ", "taro"),
    ("花子", "ハナコ", "hanako"),
    ("一郎", "イチロウ", "ichiro"),
    ("美咲", "ミサキ", "misaki"),
    ("健太", "ケンタ", "kenta"),
    ("陽子", "ヨウコ", "yoko"),
    ("翔太", "ショウタ", "shota"),
    ("由美", "ユミ", "yumi"),
    ("大輔", "ダイスケ", "daisuke"),
    ("愛", "アイ", "ai"),
    ("拓也", "タクヤ", "takuya"),
    ("恵", "メグミ", "megumi"),
]
EN_GIVEN = ["James", "Emma", "Oliver", "Sophia", "Liam", "Ava", "Noah", "Mia", "William", "Charlotte"]
EN_FAMILY = ["Smith", "Johnson", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Thomas", "Clark", "Walker"]
JA_PLACES = [
    ("東京", "トウキョウ", "tokyo"),
    ("大阪", "オオサカ", "osaka"),
    ("名古屋", "ナゴヤ", "nagoya"),
    ("横浜", "ヨコハマ", "yokohama"),
    ("京都", "キョウト", "kyoto"),
    ("福岡", "フクオカ", "fukuoka"),
    ("札幌", "サッポロ", "sapporo"),
    ("神戸", "コウベ", "kobe"),
]
JA_TRADES = [
    ("精機", "セイキ", "seiki", "manufacturing"),
    ("商事", "ショウジ", "shoji", "trading"),
    ("電機", "デンキ", "denki", "electronics"),
    ("化学", "カガク", "kagaku", "chemicals"),
    ("製薬", "セイヤク", "seiyaku", "pharma"),
    ("建設", "ケンセツ", "kensetsu", "construction"),
    ("運輸", "ウンユ", "unyu", "logistics"),
    ("食品", "ショクヒン", "shokuhin", "food"),
    ("情報システム", "ジョウホウシステム", "is", "it"),
]
EN_COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Hooli", "Vandelay", "Cyberdyne", "Soylent", "Tyrell"]
EN_TRADES = [
    ("Industries", "manufacturing"),
    ("Logistics", "logistics"),
    ("Software", "it"),
    ("Foods", "food"),
    ("Pharma", "pharma"),
]
TITLES_JA = ["部長", "課長", "主任", "担当", "取締役", "マネージャー"]
TITLES_EN = ["Director", "Manager", "Engineer", "VP Sales", "Buyer", "CTO"]
DEPARTMENTS_JA = ["購買部", "技術部", "経理部", "営業部", "情報システム部"]
DEPARTMENTS_EN = ["Purchasing", "Engineering", "Finance", "Sales", "IT"]
ACTIVITIES = [
    ("call", "phone", "outbound", "電話で導入時期を確認", "Call about rollout timing"),
    ("call", "phone", "inbound", "見積もりについて問い合わせ", "Inbound question about the quote"),
    ("email", "email", "outbound", "提案書を送付", "Sent the proposal"),
    ("email", "email", "inbound", "仕様の質問メールを受信", "Received a spec question"),
    ("meeting", "in_person", "outbound", "定例打ち合わせ", "Quarterly business review"),
    ("meeting", "video", "outbound", "デモ実施", "Product demo"),
    ("note", None, "internal", "決裁者は来月異動予定", "Decision maker moves next month"),
    ("event", "event", "inbound", "展示会ブースに来訪", "Visited our booth at the expo"),
]


# Plugins add their share through their services, which is realistic but slow; at scale they get
# a sample of the accounts and contacts so `--scale 10000` still loads in well under a minute.
PLUGIN_SAMPLE_CONTACTS = 400
# The newest contacts, the first page a list of them opens on (and the page bench/ reads): always
# in the sample, with their primary accounts, so that every plugin has rows on that page.
FIRST_PAGE = 100
CHUNK = 5_000
ACTIVITIES_PER_CONTACT = 10


async def load_demo(
    runtime, *, scale: int = 200, seed: int = 20241, force: bool = False, progress: Callable[[str, int, int], None] | None = None
) -> dict | None:
    """Load `scale` contacts, scale/4 accounts (a fifth of them subsidiaries), 10×scale activities
    and scale/4 tasks, then each plugin's share. The core's rows are bulk-inserted in chunks, each
    its own transaction, with the same normalisation and search text the services would store.
    `progress(stage, done, total)` is told after each chunk (a million contacts take many minutes)."""
    rng = random.Random(seed)
    report = progress or (lambda stage, done, total: None)
    async with runtime.read_session() as session:
        if not force and (await session.execute(select(func.count()).select_from(Contact))).scalar_one():
            return None
    now = runtime.clock.now()
    async with runtime.unit_of_work() as uow:
        users = [
            await create_user(uow.session, runtime.clock, display_name=name, roles=[role])
            for name, role in (("営業 一課 (demo)", "sales"), ("Sales Two (demo)", "sales"), ("Marketing (demo)", "marketing"))
        ]
    account_ids: list = []
    accounts = max(scale // 4, 1)
    for first in range(0, accounts, CHUNK):
        rows = []
        for i in range(first, min(first + CHUNK, accounts)):
            rows.append(_account_row(_account_data(rng, i, account_ids, users), now - dt.timedelta(days=rng.randrange(0, 720))))
            account_ids.append(rows[-1]["id"])
        await _insert(runtime, {Account: rows})
        report("accounts", len(account_ids), accounts)
    contact_ids: list = []
    newest: list[tuple] = []  # a min-heap of (created at, id, primary account) of the FIRST_PAGE newest
    for first in range(0, scale, CHUNK):
        batch: dict[type, list[dict]] = {
            Contact: [],
            SubjectKey: [],
            ContactEmail: [],
            ContactPhone: [],
            ContactSearchToken: [],
            ContactAccount: [],
        }
        for i in range(first, min(first + CHUNK, scale)):
            data, created_at = (
                _contact_data(rng, i, account_ids, users, runtime.settings),
                now - dt.timedelta(days=rng.randrange(0, 720)),
            )
            _contact_rows(batch, data, runtime.settings, created_at)
            contact_ids.append(batch[Contact][-1]["id"])
            (heapq.heappush if len(newest) < FIRST_PAGE else heapq.heappushpop)(
                newest, (created_at, contact_ids[-1], data["accounts"][0]["account_id"])
            )
        await _insert(runtime, batch)
        report("contacts", len(contact_ids), scale)
    activities = scale * ACTIVITIES_PER_CONTACT
    for first in range(0, activities, CHUNK):
        batch = {Activity: [], ActivityKey: [], ActivityTarget: []}
        for _ in range(first, min(first + CHUNK, activities)):
            _activity_rows(batch, rng, contact_ids, users, now)
        await _insert(runtime, batch)
        report("activities", min(first + CHUNK, activities), activities)
    tasks: dict = {Task: [], TaskKey: []}
    for _ in range(accounts):
        _add(
            tasks,
            Task.bulk_rows(
                {
                    "id": new_id(),
                    "status": "open",
                    "contact_id": rng.choice(contact_ids),
                    "assignee_id": rng.choice(users).id,
                    "due_at": now + dt.timedelta(days=rng.randrange(-3, 30), hours=rng.randrange(0, 8)),
                    "created_at": now,
                },
                title=rng.choice(["見積もりをフォロー", "Send the contract", "日程調整", "Prepare the demo"]),
            ),
        )
    await _insert(runtime, tasks)
    report("tasks", accounts, accounts)
    async with runtime.unit_of_work() as uow:
        await runtime.plugins.call(
            "enishi_demo_data",
            uow=uow,
            rng=rng,
            account_ids=_sample(rng, account_ids, PLUGIN_SAMPLE_CONTACTS // 4, [account for *_, account in newest]),
            contact_ids=_sample(rng, contact_ids, PLUGIN_SAMPLE_CONTACTS, [contact for _, contact, _ in newest]),
        )
    report("plugins' data", 1, 1)
    await analyze(runtime.engine)
    return {
        "users": len(users),
        "accounts": len(account_ids),
        "contacts": len(contact_ids),
        "activities": activities,
        "tasks": accounts,
    }


def _sample(rng: random.Random, ids: list, k: int, included: list) -> list:
    """`k` of `ids` (all of them if fewer), the `included` ones among them, the rest at random."""
    if len(ids) <= k:
        return ids
    chosen = dict.fromkeys(list(dict.fromkeys(included))[:k])  # in order, once each
    others = [i for i in ids if i not in chosen]
    return [*chosen, *(others[i] for i in sorted(rng.sample(range(len(others)), k - len(chosen))))]


async def _insert(runtime, rows_by_model: dict) -> None:
    async with runtime.unit_of_work() as uow:
        connection = await uow.session.connection()
        for model, rows in rows_by_model.items():  # parents before children
            await insert_rows(connection, model, rows)  # Core executemany on the connection: no ORM bookkeeping


def _account_row(data: dict, created_at: dt.datetime) -> dict:
    row = {
        **data,
        "id": new_id(),
        "match_name": company_match_name(data["name"]),
        "created_at": created_at,
        "updated_at": created_at,
    }
    row["search_text"] = account_search_text(Account(**row))
    return row


def _contact_rows(batch: dict, data: dict, settings, created_at: dt.datetime) -> None:
    contact_id = new_id()
    phones = [normalize_phone(p["number"], settings.default_phone_region) for p in data["phones"]]
    contact = {key: data[key] for key in ("job_title", "department", "owner_id", "custom_fields")}
    contact.update(id=contact_id, created_at=created_at, updated_at=created_at)
    names = {key: data[key] for key in NAME_FIELDS}
    _add(batch, bulk_contact_rows(contact, names, [e["address"] for e in data["emails"]], phones))
    batch[ContactAccount] += [
        {"id": new_id(), "contact_id": contact_id, "account_id": link["account_id"], "is_primary": link["primary"]}
        for link in data["accounts"]
    ]


def _add(batch: dict, rows_by_model: dict) -> None:
    for model, rows in rows_by_model.items():
        batch[model] += rows


def _activity_rows(batch: dict, rng: random.Random, contact_ids: list, users: list, now: dt.datetime) -> None:
    kind, channel, direction, ja, en = rng.choice(ACTIVITIES)
    activity_id = new_id()
    occurred = now - dt.timedelta(minutes=rng.randrange(0, 180 * 24 * 60))
    activity = {
        "id": activity_id,
        "type": kind,
        "channel": channel,
        "direction": direction,
        "occurred_at": occurred,
        "actor_id": rng.choice(users).id,
        "duration_seconds": rng.choice((None, 900, 1800, 3600)) if kind in ("call", "meeting") else None,
        "source_plugin": "core",
        "created_at": occurred,
    }
    _add(batch, Activity.bulk_rows(activity, summary=ja if rng.random() < 0.7 else en))
    targets = {rng.choice(contact_ids) for _ in range(rng.choice((1, 1, 1, 2)))}
    batch[ActivityTarget] += [{"id": new_id(), "activity_id": activity_id, "contact_id": c} for c in targets]


def _account_data(rng: random.Random, i: int, earlier: list, users: list) -> dict:
    if i % 3 == 2:
        base, (trade, industry) = rng.choice(EN_COMPANIES), rng.choice(EN_TRADES)
        name = f"{base} {trade} {rng.choice(['Inc.', 'Ltd.', 'Corp.'])}"
        kana, domain = None, f"{base.lower()}-{trade.lower()}{i}.example.com"
    else:
        (place, place_kana, place_romaji), (trade, trade_kana, trade_romaji, industry) = (
            rng.choice(JA_PLACES),
            rng.choice(JA_TRADES),
        )
        name = f"株式会社{place}{trade}" if i % 2 else f"{place}{trade}株式会社"
        kana, domain = f"{place_kana}{trade_kana}", f"{place_romaji}-{trade_romaji}{i}.example.jp"
    return {
        "name": name,
        "name_kana": kana,
        "domain": domain,
        "industry": industry,
        "employee_count": rng.choice((12, 45, 180, 950, 3200, 12000)),
        "lifecycle_stage": rng.choice(("lead", "prospect", "customer", "customer", "partner")),
        "parent_id": rng.choice(earlier) if earlier and rng.random() < 0.2 else None,
        "owner_id": rng.choice(users).id,
        "custom_fields": {"region": rng.choice(["関東", "関西", "九州", "APAC", "EMEA"])},
    }


def _contact_data(rng: random.Random, i: int, account_ids: list, users: list, settings) -> dict:
    japanese = i % 4 != 3
    if japanese:
        (family, family_kana, family_romaji), (given, given_kana, given_romaji) = rng.choice(JA_FAMILY), rng.choice(JA_GIVEN)
        email = f"{given_romaji}.{family_romaji}{i}@example.jp"
        phone = rng.choice(
            [f"03-5{i % 1000:03d}-{rng.randrange(10000):04d}", f"090-{rng.randrange(1000, 9999)}-{rng.randrange(10000):04d}"]
        )
        title, department = rng.choice(TITLES_JA), rng.choice(DEPARTMENTS_JA)
    else:
        family, given, family_kana, given_kana = rng.choice(EN_FAMILY), rng.choice(EN_GIVEN), None, None
        email = f"{given.lower()}.{family.lower()}{i}@example.com"
        phone = f"+1 415 555 01{i % 100:02d}"
        title, department = rng.choice(TITLES_EN), rng.choice(DEPARTMENTS_EN)
    if i % 50 == 7:
        # Full-width input, as it arrives from Japanese forms and Excel sheets.
        email = email.upper().translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    links = rng.sample(account_ids, k=1 if rng.random() < 0.9 else min(2, len(account_ids)))
    return {
        "family_name": family,
        "given_name": given,
        "family_name_kana": family_kana,
        "given_name_kana": given_kana,
        "job_title": title,
        "department": department,
        "emails": [{"address": email, "primary": True}],
        "phones": [{"number": phone, "primary": True}],
        "accounts": [{"account_id": a, "primary": n == 0} for n, a in enumerate(links)],
        "owner_id": rng.choice(users).id,
        "custom_fields": {"source": rng.choice(["展示会", "web", "referral", "紹介"])},
    }
