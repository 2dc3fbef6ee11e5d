"""Running one GraphQL operation as a viewer, in process: the one way to the data for `/graphql`
and the console alike."""

from __future__ import annotations

from strawberry.types.execution import ExecutionResult as StrawberryExecutionResult
from strawberry.types.graphql import OperationType

from enishi.runtime import Runtime
from enishi.sealing import personal_reads

from .context import Context


async def execute_as(
    runtime: Runtime,
    schema,
    viewer,
    query: str,
    variables: dict | None = None,
    operation_name: str | None = None,
    allowed: tuple[OperationType, ...] = (OperationType.QUERY, OperationType.MUTATION),
    client_address: str | None = None,
) -> StrawberryExecutionResult:
    """Run one operation as `viewer` (from `client_address`, over HTTP): the one way to the data for
    `/graphql` and the console alike, so both pass the same authorization and services, and both
    leave the same access-log entries."""
    context = Context(runtime, viewer, client_address)
    reads: set = set()
    recording = personal_reads.set(reads)
    try:
        result = await schema.execute(
            query,
            variable_values=variables,
            context_value=context,
            operation_name=operation_name,
            allowed_operation_types=allowed,
        )
    finally:
        personal_reads.reset(recording)
        await context.close()
    # What the request decrypted goes to the plugins (the access log is the privacy plugin's);
    # the view records the reads and writes nothing itself.
    await runtime.plugins.call("enishi_request_finished", runtime=runtime, actor_id=viewer.user_id, personal_reads=reads)
    return result
