"""The schema's own scalars, mapped through strawberry's `StrawberryConfig.scalar_map` (the
form strawberry recommends; passing a class to `strawberry.scalar` is deprecated)."""

from __future__ import annotations

from typing import Any, NewType

import strawberry
from graphql import GraphQLError
from strawberry.types.scalar import ScalarDefinition

MAX_MINOR_UNITS = 2**53 - 1  # what a JSON number carries exactly to a JavaScript client

# Money, as an integer count of its currency's minor unit (the kit's `MinorUnits` says more).
MinorUnits = NewType("MinorUnits", int)


def _parse(value: Any) -> int:
    # A GraphQLError, not a ValueError: graphql-core reports it as the caller's invalid value
    # (a ValueError would reach the error presenter as an unhandled exception, INTERNAL).
    if isinstance(value, bool) or not isinstance(value, int) or not -MAX_MINOR_UNITS <= value <= MAX_MINOR_UNITS:
        raise GraphQLError(f"an amount is an integer count of minor units, at most {MAX_MINOR_UNITS} in size")
    return value


SCALAR_MAP: dict[object, ScalarDefinition] = {
    MinorUnits: strawberry.scalar(
        name="MinorUnits",
        description="An integer amount in the minor units of its currency (yen for JPY, cents for USD), up to 2^53 − 1.",
        serialize=int,
        parse_value=_parse,
    )
}
