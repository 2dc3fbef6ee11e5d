"""Configuration: environment variables, optionally backed by a TOML file (`ENISHI_CONFIG`).

An environment variable always wins over the file, so a deployment can override one value."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .logs import LOG_FORMATS


class ConfigError(ValueError):
    pass


def _csv(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """The configuration (enishi.toml, `ENISHI_*` variables): a plugin reads `zone` (the
    configured time zone), `public_link(path)`, and its own keys in `extra` (the config file's
    `[extra]` table, such as `extra.privacy_appi_response_days`); the rest is the core's."""

    database_url: str = "sqlite+aiosqlite:///./enishi.db"
    # A replica for analytics and exports only, which never read their own writes (empty: the
    # primary). Replicas lag: nothing that must see what it just wrote reads there.
    read_database_url: str = ""
    # PostgreSQL behind PgBouncer in transaction pooling mode: no prepared statements cached on a
    # connection, which the next transaction may find on another server connection.
    pgbouncer: bool = False
    environment: str = "development"  # development | production
    timezone: str = "Asia/Tokyo"
    default_phone_region: str = "JP"
    # None means every installed plugin; otherwise only these (the core is always on).
    enabled_plugins: frozenset[str] | None = None
    disabled_plugins: frozenset[str] = frozenset()
    plugin_autoload: bool = True
    key_encryption_key: str | None = None
    # The key being rotated away from: still unwraps what `enishi keys rotate` has not re-wrapped.
    previous_key_encryption_key: str | None = None
    # Outgoing mail (core/mail.py): smtp://, smtps:// or file:// (development default: ./enishi-data/mail).
    mail_url: str = ""
    mail_from: str = "Enishi <noreply@localhost>"
    # Where people outside reach this server, for links in mails (https://crm.example.co.jp).
    public_url: str = ""
    max_page_size: int = 100
    default_page_size: int = 20
    max_query_depth: int = 12
    max_aliases: int = 50
    max_tokens: int = 5000
    max_query_cost: int = 50_000
    max_body_bytes: int = 1_000_000
    # A GraphQL multipart request (a file upload: importContacts' `upload`) may be this large.
    max_upload_bytes: int = 20_000_000
    # An import's file is stored sealed in pieces this large; a run reads four ahead of its row.
    import_chunk_bytes: int = 1_000_000
    # Queries resolved a level at a time (graphql/execution.py); off hands them to graphql-core as it is.
    breadth_first_execution: bool = True
    log_level: str = "INFO"
    # One line per record: "json" (for a log collector) or "text" (key=value, for a terminal).
    log_format: str = "json"
    # GET /metrics answers a request bearing this token (`Authorization: Bearer …`); without one,
    # only a client on this machine (a loopback address) is answered. docs/operations.md.
    metrics_token: str | None = None
    # OpenTelemetry spans of requests, GraphQL operations and SQL (needs `pip install enishi[tracing]`).
    tracing: bool = False
    # On SIGTERM, `enishi serve`'s requests in flight and `enishi worker`'s job have this many seconds to finish.
    shutdown_timeout: int = 30
    # `enishi worker` serves its Prometheus metrics on this port (0: not at all), on this address
    # (the endpoint asks for no token: keep it on loopback or a monitoring-only network).
    worker_metrics_port: int = 0
    worker_metrics_host: str = "127.0.0.1"
    # Check every emitted event's payload against its declared fields (the test fixtures turn it on).
    validate_events: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    def public_link(self, path: str) -> str:
        """An absolute link to `path` on this server (development default: http://localhost:8000)."""
        base = self.public_url or ("" if self.is_production else "http://localhost:8000")
        if not base:
            raise ConfigError("links in mails need the server's public address: set ENISHI_PUBLIC_URL")
        return base.rstrip("/") + path

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def plugin_enabled(self, name: str) -> bool:
        if name in self.disabled_plugins:
            return False
        return self.enabled_plugins is None or name in self.enabled_plugins

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        values: dict = {}
        config_file = env.get("ENISHI_CONFIG")
        if config_file:
            try:
                values.update(tomllib.loads(Path(config_file).read_text(encoding="utf-8")))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read ENISHI_CONFIG file: {exc}") from exc
        known = {f.name for f in fields(cls)}
        for name in known:
            key = f"ENISHI_{name.upper()}"
            if key in env:
                values[name] = env[key]
        if "ENISHI_PLUGINS" in env:
            values["enabled_plugins"] = env["ENISHI_PLUGINS"]
        if "ENISHI_KEK" in env:
            values["key_encryption_key"] = env["ENISHI_KEK"]
        if "ENISHI_KEK_FILE" in env:
            try:
                values["key_encryption_key"] = Path(env["ENISHI_KEK_FILE"]).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"cannot read ENISHI_KEK_FILE: {exc}") from exc
        if "ENISHI_KEK_PREVIOUS" in env:
            values["previous_key_encryption_key"] = env["ENISHI_KEK_PREVIOUS"]
        if env.get("ENISHI_DISABLE_PLUGIN_AUTOLOAD"):
            values["plugin_autoload"] = False
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls()._coerce(values)

    def _coerce(self, values: dict) -> Settings:
        coerced: dict = {}
        for f in fields(self):
            if f.name not in values:
                continue
            raw = values[f.name]
            default = getattr(self, f.name)
            if f.name == "enabled_plugins":
                coerced[f.name] = None if raw in ("", "all", None) else (_csv(raw) if isinstance(raw, str) else frozenset(raw))
            elif isinstance(default, frozenset):
                coerced[f.name] = _csv(raw) if isinstance(raw, str) else frozenset(raw)
            elif isinstance(default, bool):
                coerced[f.name] = raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes", "on")
            elif isinstance(default, int):
                try:
                    coerced[f.name] = int(raw)
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"{f.name} must be an integer") from exc
            else:
                coerced[f.name] = raw
        settings = replace(self, **coerced)
        if settings.log_format not in LOG_FORMATS:
            raise ConfigError(f"log_format must be one of {', '.join(LOG_FORMATS)}")
        if settings.environment not in ("development", "production"):
            raise ConfigError("environment must be 'development' or 'production'")
        try:
            ZoneInfo(settings.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"unknown time zone {settings.timezone!r}") from exc
        return settings
