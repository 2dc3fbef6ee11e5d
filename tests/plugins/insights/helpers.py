"""GraphQL helpers for the insights tests: customers and their purchases, back-dated."""

import datetime as dt

from tests.helpers import create_contact

RFM = "rfm { score segment frequency monetary recencyDays recencyScore frequencyScore monetaryScore }"


async def buy(api, contact_id, amount, *, days_ago: float = 0, **input) -> str:
    when = api.clock.now() - dt.timedelta(days=days_ago)
    payload = await api.mutate(
        "createPurchase", {"contactId": contact_id, "amount": amount, "purchasedAt": when.isoformat(), **input}, "purchase { id }"
    )
    assert payload["userErrors"] == [], payload
    return payload["purchase"]["id"]


async def customer(api, name: str, purchases: list[tuple[float, int]]) -> str:
    """A contact with purchases of (days ago, amount)."""
    contact_id = (await create_contact(api, familyName=name))["id"]
    for days_ago, amount in purchases:
        await buy(api, contact_id, amount, days_ago=days_ago)
    return contact_id


async def rfm_of(api, contact_id) -> dict | None:
    data = await api.graphql(f"query($id: ID!) {{ node(id: $id) {{ ... on Contact {{ {RFM} }} }} }}", {"id": contact_id})
    return data["node"]["rfm"]


async def customers_buying(api, dates: list[list[dt.datetime]], amount: int = 1000) -> list:
    """One new contact per list of purchase instants, recorded through the services in one unit
    of work (hundreds of customers: the KPIs under test are read over GraphQL)."""
    from enishi.plugin import record_purchase
    from enishi.services.contacts import NewContacts

    async with api.runtime.unit_of_work() as uow:
        new_contacts = await NewContacts.reading(uow)
        contacts = [await new_contacts.add(uow, {"family_name": f"顧客{n}"}) for n in range(len(dates))]
        await new_contacts.write(uow)
        for contact, instants in zip(contacts, dates, strict=True):
            for when in instants:
                await record_purchase(uow, {"contact_id": contact.id, "amount": amount, "purchased_at": when})
    return [contact.id for contact in contacts]
