"""Enishi (縁): a plugin-based CRM framework with one GraphQL API.

What a plugin author needs is importable from here: `hookimpl` and the contribution types."""
from .contributions import (
    ActivityType,
    CliCommand,
    DataSubject,
    ErasureReport,
    Event,
    EventType,
    MergeMove,
    Permission,
    PayloadField,
    PersonalDataField,
    ScheduledJob,
)
from .plugin_host import hookimpl

__all__ = [
    "ActivityType",
    "CliCommand",
    "DataSubject",
    "ErasureReport",
    "Event",
    "EventType",
    "MergeMove",
    "Permission",
    "PayloadField",
    "PersonalDataField",
    "ScheduledJob",
    "hookimpl",
]
