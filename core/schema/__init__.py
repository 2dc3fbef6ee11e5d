"""The core's GraphQL schema, shaped as a plugin's: its types (`types`), the loaders of their
relations (`loaders`), its root query and mutation fields (`queries`, `mutations`, `imports`, `test_clocks`).
The core contributes them through the same hooks as any plugin (`enishi.hooks`); `enishi.graphql`
is the framework that composes and serves them."""
