"""The project is described in pyproject.toml; this file only guards editable installs.

`graphql/` has no __init__.py (a regular package of that name at the repository root would shadow
graphql-core), and setuptools' default ("lenient") editable mode cannot map such a folder to
`enishi.graphql`: a plain `pip install -e .` would succeed and leave an `enishi` whose GraphQL layer
cannot be imported. Only the strict mode links it, so any other mode stops here and says so."""

from setuptools import setup
from setuptools.command.editable_wheel import editable_wheel
from setuptools.errors import OptionError


class StrictEditableWheel(editable_wheel):
    def run(self) -> None:
        if (self.mode or "").lower() != "strict":
            raise OptionError(
                "enishi cannot be installed in setuptools' default editable mode (graphql/ would not be "
                "importable as enishi.graphql). Run `make install`, or "
                "`pip install -e '.[test]' --config-settings editable_mode=strict`."
            )
        super().run()


setup(cmdclass={"editable_wheel": StrictEditableWheel})
