"""Support's configuration inputs: typed shapes, every bad value a userError, nothing INTERNAL."""
from sqlalchemy import func, select

from enishi.plugins.support.models import SupportMacro


async def _macro_count(api) -> int:
    async with api.runtime.read_session() as session:
        return (await session.execute(select(func.count()).select_from(SupportMacro))).scalar_one()


async def test_a_second_macro_of_the_same_name_is_a_duplicate_and_changes_nothing(api):
    first = await api.mutate("createMacro", {"name": "返金のご案内", "reply": "ご連絡ありがとうございます。"}, "id")
    assert first["userErrors"] == [] and first["id"]
    second = await api.mutate("createMacro", {"name": "返金のご案内", "status": "solved"}, "id")
    assert second["id"] is None
    assert second["userErrors"] == [{"field": "name", "message": "already exists", "code": "DUPLICATE"}]
    assert await _macro_count(api) == 1
