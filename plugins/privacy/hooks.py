"""Bundled plugin `privacy`: consent and data-subject requests (GDPR, APPI).

Registered through the `enishi.plugins` entry-point group like any third-party plugin, so
`enishi plugins` lists it. It implements no hooks yet: its models, service, schema and
migrations are the work of issue #4, and nothing here claims otherwise."""
