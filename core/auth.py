"""Users, roles, API tokens, and the viewer a request acts as."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, null, select
from sqlalchemy.ext.asyncio import AsyncSession

from .clock import Clock
from .errors import Forbidden, InputError, TokenExpired, UserError
from .models import ApiToken, User

ROLES = ("admin", "manager", "sales", "marketing", "support", "compliance", "integration")
# Permissions name the roles that hold them; admin holds every permission without being named.
NON_ADMIN_ROLES = tuple(role for role in ROLES if role != "admin")
TOKEN_PREFIX = "enishi_"
SCOPE_FORMAT = re.compile(r"[a-z][a-z0-9_]*:[a-z][a-z0-9_]*")


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


def scope_of(permission) -> str:
    """The token scope granting a permission: its own, or one named after it (`nps.read` → `nps:read`)."""
    if permission.scope is not None:
        return permission.scope
    area = permission.name.split(".")[0]
    return f"{area}:read" if permission.name.endswith(".read") else f"{area}:write"


class PermissionRegistry:
    def __init__(self, permissions) -> None:
        self.known = {p.name: p for p in permissions}
        self.scopes = _grants_by_scope(permissions)
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

    def for_token(self, roles, scopes: Iterable[str] | None) -> frozenset[str]:
        """What a token may do: its roles' permissions, narrowed to those its scopes grant when it
        has scopes. `public` stays: a token never gets less than a request without one."""
        granted = self.for_roles(roles)
        if scopes is None:
            return granted
        return granted & frozenset({PUBLIC}).union(*(self.scopes.get(scope, ()) for scope in scopes))

    def check_scopes(self, scopes: Iterable[str]) -> list[str]:
        """The scopes, sorted and without repeats; an unknown one is an `UNKNOWN_SCOPE` input error."""
        scopes = sorted(set(scopes))
        if not scopes:
            raise InputError(
                UserError("scopes", "name at least one scope, or none at all for the role's every permission", "INVALID_SCOPE")
            )
        unknown = [scope for scope in scopes if scope not in self.scopes]
        if unknown:
            raise InputError(
                UserError(
                    "scopes", f"unknown scope {unknown[0]!r}; known scopes: {', '.join(sorted(self.scopes))}", "UNKNOWN_SCOPE"
                )
            )
        return scopes

    def scope_table(self) -> str:
        """The scopes and the permissions each grants, as the Markdown table of docs/api.md."""
        rows = ["| scope | grants these permissions of the token's role |", "| --- | --- |"]
        rows += [
            f"| `{scope}` | {', '.join(f'`{name}`' for name in sorted(granted))} |"
            for scope, granted in sorted(self.scopes.items())
        ]
        return "\n".join(rows) + "\n"


def _grants_by_scope(permissions) -> dict[str, frozenset[str]]:
    granted: dict[str, set[str]] = {}
    for permission in permissions:
        if permission.name == PUBLIC:
            continue  # held without any token, so no scope can take it away
        scope = scope_of(permission)
        if not SCOPE_FORMAT.fullmatch(scope):
            raise ValueError(f"permission {permission.name!r} names scope {scope!r}, not of the form `area:level`")
        granted.setdefault(scope, set()).add(permission.name)
    # As in GitHub's fine-grained tokens, write access to an area includes reading it.
    for scope, names in granted.items():
        if scope.endswith(":write"):
            names |= granted.get(scope.removesuffix(":write") + ":read", set())
    return {scope: frozenset(names) for scope, names in granted.items()}


ANONYMOUS = Viewer(user_id=None, roles=frozenset(), permissions=frozenset({PUBLIC}))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# scrypt (stdlib, RFC 7914) at OWASP's minimum cost (N=2^17 at r=8 is its first choice; 2^15 keeps
# a sign-in near 0.1 s on a small server). The parameters travel in the hash, so a later release can
# raise them and still verify the passwords set before.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MIN_PASSWORD_LENGTH = 12


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=32)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    encode = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored`; with no stored hash a dummy one is computed all the
    same, so the answer takes as long for an unknown address as for a wrong password."""
    if stored is None:
        _scrypt(password, b"\0" * 16, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        return False
    _scheme, n, r, p, salt, digest = stored.split("$")
    computed = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(computed, base64.b64decode(digest))


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        message = f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
        raise InputError(UserError("password", message, "PASSWORD_TOO_SHORT"))


def validate_roles(roles: list[str]) -> list[str]:
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise InputError(UserError("roles", f"roles must be among: {', '.join(ROLES)}", "INVALID_ROLE"))
    return sorted(set(roles))


async def create_user(
    session: AsyncSession, clock: Clock, *, display_name: str, roles: list[str], email: str | None = None
) -> User:
    user = User(display_name=display_name, email=email, roles=validate_roles(roles), created_at=clock.now())
    session.add(user)
    await session.flush()
    return user


async def issue_token(
    session: AsyncSession,
    clock: Clock,
    registry: PermissionRegistry,
    user: User,
    label: str = "",
    *,
    scopes: Iterable[str] | None = None,
    expires_at: dt.datetime | None = None,
) -> str:
    """Create a token for `user` and return it; only its hash is kept. With `scopes` it holds only
    the permissions of the user's roles that they grant; without, all of them."""
    if scopes is not None:
        scopes = registry.check_scopes(scopes)
    if expires_at is not None and expires_at <= clock.now():
        raise InputError(UserError("expiresAt", "the expiry must be in the future", "EXPIRY_IN_PAST"))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    # null(): SQL NULL for "no scopes", where None would store the JSON value null.
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=hash_token(token),
            label=label,
            created_at=clock.now(),
            scopes=null() if scopes is None else scopes,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return token


# Built once: every API request runs it, and composing the statement anew (columns compared,
# joined, filtered) added 166 µs of CPU to a 277-µs lookup on SQLite (bench/README.md, the
# seventh session's loyalty spend).
_TOKEN_LOOKUP = (
    select(User.id, User.roles, User.is_active, ApiToken.scopes, ApiToken.expires_at)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None))
)


async def authenticate(session: AsyncSession, registry: PermissionRegistry, token: str, now: dt.datetime) -> Viewer | None:
    """The viewer a token acts as, or None for a token unknown, revoked or of a deactivated user;
    `TokenExpired` for one past its expiry, so that the caller can say why."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = (await session.execute(_TOKEN_LOOKUP, {"token_hash": hash_token(token)})).first()
    if row is None or not row.is_active:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        raise TokenExpired(f"the API token expired at {row.expires_at.isoformat()}")
    roles = frozenset(row.roles)
    return Viewer(user_id=row.id, roles=roles, permissions=registry.for_token(roles, row.scopes))


def require(viewer: Viewer | None, permission: str) -> Viewer:
    if viewer is None:
        raise Forbidden("authentication required")
    viewer.require(permission)
    return viewer
