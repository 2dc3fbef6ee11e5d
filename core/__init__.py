"""Enishi (縁): a plugin-based CRM framework with one GraphQL API.

Plugins import from `enishi.plugin`, the plugin kit. `hookimpl` and the contribution types stay
importable from here for plugins written before the kit existed."""

from .contributions import (
    ActivityType,
    CliCommand,
    DataSubject,
    ErasureReport,
    Event,
    EventType,
    MergeMove,
    PayloadField,
    Permission,
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
    "PayloadField",
    "Permission",
    "PersonalDataField",
    "ScheduledJob",
    "hookimpl",
]
