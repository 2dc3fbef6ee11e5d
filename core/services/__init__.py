"""Domain rules of the core. No GraphQL here: services take plain values and a unit of work,
raise `InputError`/`NotFound` on bad input, and emit events."""
