"""The knowledge base: categories and articles, and the search over them. Separate because it
shares nothing with tickets but the plugin."""

from __future__ import annotations

from enishi.plugin import (
    Checker,
    UnitOfWork,
    like_pattern,
    load_for_update,
    search_key,
    search_query_key,
)

from .models import SupportKbArticle, SupportKbCategory


async def create_kb_category(uow: UnitOfWork, name: str, locale: str, parent_id=None) -> SupportKbCategory:
    check = Checker()
    name = check.text({"name": name}, "name", max_length=200, required=True)
    check.choice({"locale": locale}, "locale", ("ja", "en"))
    check.done()
    category = SupportKbCategory(name=name, locale=locale, parent_id=parent_id)
    uow.session.add(category)
    await uow.session.flush()
    return category


async def save_kb_article(uow: UnitOfWork, data: dict, article_id=None) -> SupportKbArticle:
    check = Checker()
    article = await load_for_update(uow, SupportKbArticle, article_id, field="id") if article_id else SupportKbArticle()
    if article_id is None or "title" in data:
        article.title = check.text(data, "title", max_length=300, required=True)
    if article_id is None or "body" in data:
        article.body = check.text(data, "body", max_length=200_000, required=True)
    locale = check.choice(data, "locale", ("ja", "en"))
    status = check.choice(data, "status", ("draft", "published"))
    check.done()
    if article_id is None:
        article.locale, article.status = locale or "ja", status or "draft"
        uow.session.add(article)
    else:
        article.locale, article.status = locale or article.locale, status or article.status
    if "category_id" in data:
        article.category_id = data["category_id"]
    now = uow.clock.now()
    article.updated_at = now
    if article.status == "published" and article.published_at is None:
        article.published_at = now
    article.search_text = "|".join(filter(None, (search_key(article.title), search_key(article.body))))
    await uow.session.flush()
    return article


def kb_search_clause(text: str):
    return SupportKbArticle.search_text.like(like_pattern(search_query_key(text)), escape="\\")
