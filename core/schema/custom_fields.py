"""Custom-field definitions over GraphQL (services/custom_fields.py): `customFieldDefinitions` for
every reader (a frontend builds its forms and columns from it), and the create, update and
delete mutations for whoever holds `crm.configure` (admin)."""

from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry
from strawberry import relay
from strawberry.types import Info

from enishi import models
from enishi.graphql.errors import UserErrorType
from enishi.graphql.inputs import input_values
from enishi.graphql.mutation import run_mutation
from enishi.graphql.nodes import node_resolver
from enishi.graphql.relay import parse_global_id
from enishi.services import custom_fields

CONFIGURE = "crm.configure"


@strawberry.enum(description="The kind of record a custom field belongs to.")
class CustomFieldEntity(Enum):
    CONTACT = "contact"
    ACCOUNT = "account"


@strawberry.enum(
    description="What a custom field holds, and what a write or an import's cell is coerced to: TEXT (a string), "
    "NUMBER (a JSON number; `１，２００` reads as 1200), INTEGER (a whole number), DATE (`YYYY-MM-DD`; "
    "2024/4/1, 令和6年4月1日, R6.4.1 read as 2024-04-01), BOOLEAN (true/false; はい/いいえ, yes/no, 1/0 read too), "
    "CHOICE (one of `options`)."
)
class CustomFieldType(Enum):
    TEXT = "text"
    NUMBER = "number"
    INTEGER = "integer"
    DATE = "date"
    BOOLEAN = "boolean"
    CHOICE = "choice"


@strawberry.type(description="A typed custom field of contacts or accounts: the key in `customFields`, its type and labels.")
class CustomFieldDefinition(relay.Node):
    id: relay.NodeID[str]
    entity: CustomFieldEntity
    key: str = strawberry.field(description="The key in the record's `customFields` (and `custom:<key>` in imports and exports).")
    type: CustomFieldType
    label_ja: str
    label_en: str | None
    options: list[str] = strawberry.field(description="A CHOICE field's allowed values, in order; empty for the others.")
    required: bool = strawberry.field(description="A record must have a value (checked on every write that sets `customFields`).")
    position: int = strawberry.field(description="Where a frontend shows it, lowest first.")
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: models.CustomFieldDefinition) -> CustomFieldDefinition:
        return cls(
            id=str(row.id),
            entity=CustomFieldEntity(row.entity),
            key=row.key,
            type=CustomFieldType(row.type),
            label_ja=row.label_ja,
            label_en=row.label_en,
            options=list(row.options or []),
            required=row.required,
            position=row.position,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    resolve_nodes = node_resolver(models.CustomFieldDefinition)


@strawberry.input
class CreateCustomFieldDefinitionInput:
    entity: CustomFieldEntity
    key: str = strawberry.field(description="1 to 60 characters without spaces, dots or colons; unique per entity.")
    type: CustomFieldType = strawberry.field(description="Fixed once created: delete and define the key again to change it.")
    label_ja: str
    label_en: str | None = None
    options: list[str] | None = strawberry.field(default=None, description="Required for CHOICE, refused for the others.")
    required: bool = False
    position: int | None = None


@strawberry.input
class UpdateCustomFieldDefinitionInput:
    id: strawberry.ID
    label_ja: str | None = strawberry.UNSET
    label_en: str | None = strawberry.UNSET
    options: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="A CHOICE field's options; values already stored are not changed."
    )
    required: bool | None = strawberry.UNSET
    position: int | None = strawberry.UNSET


@strawberry.input
class DeleteCustomFieldDefinitionInput:
    id: strawberry.ID


@strawberry.type
class CustomFieldDefinitionPayload:
    definition: CustomFieldDefinition | None
    user_errors: list[UserErrorType]


@strawberry.type
class DeleteCustomFieldDefinitionPayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserErrorType]


def _definition_id(value: str):
    return parse_global_id(value, "CustomFieldDefinition", "id")


@strawberry.type
class CustomFieldQuery:
    @strawberry.field(description="The typed custom fields of contacts or accounts (both without `entity`), in `position` order.")
    async def custom_field_definitions(self, info: Info, entity: CustomFieldEntity | None = None) -> list[CustomFieldDefinition]:
        info.context.require("crm.read")
        entities = [entity.value] if entity is not None else list(custom_fields.ENTITIES)
        async with info.context.runtime.read_session() as session:
            return [
                CustomFieldDefinition.from_row(row)
                for name in entities
                for row in await custom_fields.definition_rows(session, name)
            ]


@strawberry.type
class CustomFieldMutation:
    @strawberry.mutation(description="Define a typed custom field (needs `crm.configure`: admin).")
    async def create_custom_field_definition(
        self, info: Info, input: CreateCustomFieldDefinitionInput
    ) -> CustomFieldDefinitionPayload:
        data = {**input_values(input), "entity": input.entity.value, "type": input.type.value}
        row, errors = await run_mutation(info, CONFIGURE, lambda uow: custom_fields.create_definition(uow, data))
        return CustomFieldDefinitionPayload(definition=CustomFieldDefinition.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Change a custom field's labels, options, requiredness or position (not its key or type).")
    async def update_custom_field_definition(
        self, info: Info, input: UpdateCustomFieldDefinitionInput
    ) -> CustomFieldDefinitionPayload:
        row, errors = await run_mutation(
            info,
            CONFIGURE,
            lambda uow: custom_fields.update_definition(uow, _definition_id(input.id), input_values(input)),
        )
        return CustomFieldDefinitionPayload(definition=CustomFieldDefinition.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Remove a definition; the records keep their values, untyped from then on.")
    async def delete_custom_field_definition(
        self, info: Info, input: DeleteCustomFieldDefinitionInput
    ) -> DeleteCustomFieldDefinitionPayload:
        deleted, errors = await run_mutation(
            info, CONFIGURE, lambda uow: custom_fields.delete_definition(uow, _definition_id(input.id))
        )
        return DeleteCustomFieldDefinitionPayload(deleted_id=input.id if deleted else None, user_errors=errors)
