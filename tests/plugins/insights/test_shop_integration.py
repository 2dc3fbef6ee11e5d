"""A shop integration — a third-party plugin — records an order from its own webhook receiver
with the kit's `record_purchase`; loyalty and insights both see it through the core's
`purchase.recorded`, neither knowing the shop."""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from enishi import hookimpl
from enishi.plugin import parse_global_id, record_purchase
from tests.plugins.insights.helpers import rfm_of
from tests.plugins.loyalty.helpers import member, program, purchase_rule


async def _order_paid(request: Request) -> Response:
    # A real receiver checks the shop's signature first: the core does not authenticate plugin routes.
    order = await request.json()
    async with request.app.state.runtime.unit_of_work() as uow:
        await record_purchase(
            uow,
            {
                "contact_id": parse_global_id(order["contactId"], "Contact", "contactId"),
                "order_ref": order["orderId"],
                "channel": "shop",
                "amount": order["amount"],
            },
        )
    return Response(status_code=204)


class Shop:
    @hookimpl
    def enishi_http_routes(self):
        return [Route("/shop/orders", _order_paid, methods=["POST"])]


async def test_an_order_a_shop_plugin_records_earns_points_and_scores_the_customer(enishi_api):
    api = await enishi_api(plugins=[("shop", Shop())])
    program_id = await program(api)
    await purchase_rule(api, program_id)
    member_id = await member(api, program_id)
    contact_id = (await api.graphql("{ contacts { nodes { id } } }"))["contacts"]["nodes"][0]["id"]
    assert await rfm_of(api, contact_id) is None

    answer = await api.client.post("/shop/orders", json={"contactId": contact_id, "orderId": "S-1", "amount": 5000})
    assert answer.status_code == 204

    data = await api.graphql("query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance } } }", {"id": member_id})
    assert data["node"]["balance"] == 50  # loyalty: 1 point per ¥100
    scored = await rfm_of(api, contact_id)  # insights: rescored in the same transaction, no job run
    assert (scored["frequency"], scored["monetary"], scored["score"]) == (1, 5000, "111")
