"""Bundled plugin `support`: support ticketing with SLAs.

Registered through the `enishi.plugins` entry-point group like any third-party plugin, so
`enishi plugins` lists it. It implements no hooks yet: its models, service, schema and
migrations are the work of issue #5, and nothing here claims otherwise."""
