"""Users, roles, API tokens, and the viewer a request acts as."""
from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .clock import Clock
from .errors import Forbidden, InputError, UserError
from .models import ApiToken, User

ROLES = ("admin", "manager", "sales", "marketing", "support", "compliance", "integration")
# Permissions name the roles that hold them; admin holds every permission without being named.
NON_ADMIN_ROLES = tuple(role for role in ROLES if role != "admin")
TOKEN_PREFIX = "enishi_"


@dataclass(frozen=True)
class Viewer:
    user_id: uuid.UUID | None  # None: someone without a token (see ANONYMOUS)
    roles: frozenset[str]
    permissions: frozenset[str]

    def has(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise Forbidden(f"requires permission {permission!r}")


# What anyone may do, with or without a token: a person acting on their own data (a data-subject
# request). Every role holds it; a request without a token gets only this, and only for root
# fields marked public (`enishi.graphql.schema.PUBLIC`).
PUBLIC = "public"


class PermissionRegistry:
    def __init__(self, permissions) -> None:
        self.known = {p.name: p for p in permissions}
        self._by_role: dict[str, set[str]] = {role: set() for role in ROLES}
        for permission in permissions:
            for role in permission.roles:
                if role not in self._by_role:
                    raise ValueError(f"permission {permission.name!r} names unknown role {role!r}")
                self._by_role[role].add(permission.name)
        self._by_role["admin"] = set(self.known)

    def for_roles(self, roles) -> frozenset[str]:
        granted: set[str] = set()
        for role in roles:
            granted |= self._by_role.get(role, set())
        return frozenset(granted)


ANONYMOUS = Viewer(user_id=None, roles=frozenset(), permissions=frozenset({PUBLIC}))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def validate_roles(roles: list[str]) -> list[str]:
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise InputError(UserError("roles", f"roles must be among: {', '.join(ROLES)}", "INVALID_ROLE"))
    return sorted(set(roles))


async def create_user(session: AsyncSession, clock: Clock, *, display_name: str, roles: list[str], email: str | None = None) -> User:
    user = User(display_name=display_name, email=email, roles=validate_roles(roles), created_at=clock.now())
    session.add(user)
    await session.flush()
    return user


async def issue_token(session: AsyncSession, clock: Clock, user: User, label: str = "") -> str:
    """Create a token for `user` and return it; only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), label=label, created_at=clock.now()))
    await session.flush()
    return token


async def authenticate(session: AsyncSession, registry: PermissionRegistry, token: str) -> Viewer | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = (
        await session.execute(
            select(User.id, User.roles, User.is_active)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
        )
    ).first()
    if row is None or not row.is_active:
        return None
    roles = frozenset(row.roles)
    return Viewer(user_id=row.id, roles=roles, permissions=registry.for_roles(roles))


def require(viewer: Viewer | None, permission: str) -> Viewer:
    if viewer is None:
        raise Forbidden("authentication required")
    viewer.require(permission)
    return viewer
