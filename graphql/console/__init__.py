"""The compliance console at /console: server-rendered pages (Jinja2, no script) for the roles
`compliance` and `admin`, over the same GraphQL operations the API serves (documents.py)."""

from .app import console_routes

__all__ = ["console_routes"]
