"""Helpers shared by support's tests."""


def target(priority: str, timer: str, minutes: int) -> dict:
    """One `SupportSlaTargetInput`."""
    return {"priority": priority.upper(), "timer": timer.upper(), "minutes": minutes}
