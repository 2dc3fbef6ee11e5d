"""The core's GraphQL types, queries and mutations, registered through core/hooks.py as a plugin's are."""
