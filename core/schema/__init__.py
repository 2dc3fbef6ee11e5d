"""The core's GraphQL types and fields that the core contributes through its hooks, as a plugin would."""
