"""Renders the plugin kit's reference (docs/plugin-kit.md, `enishi kit-doc`) and its API snapshot
(docs/plugin-kit-api.txt, `enishi kit-api`) from `enishi.plugin`, so neither can drift from the code.

The snapshot is what the kit promises: names, signatures, dataclass fields, table columns. A test
compares it with the committed file, so changing the kit is a decision recorded in CHANGELOG.md."""

from __future__ import annotations

import ast
import dataclasses
import enum
import inspect
import itertools

from . import plugin

PLAIN_VALUES = (str, int, tuple, frozenset, dict)


def groups() -> list[tuple[str, list[str]]]:
    """The kit's names by group, as the comments in `__all__` of core/plugin.py order them."""
    source = inspect.getsource(plugin)
    listing = source[source.index("__all__ = [") + len("__all__ = [") :]
    found: list[tuple[str, list[str]]] = []
    for line in listing[: listing.index("\n]")].splitlines():
        line = line.strip()
        if line.startswith("#"):
            found.append((line.lstrip("# "), []))
        elif line:
            found[-1][1].append(ast.literal_eval(line.rstrip(",")))
    return found


def _attribute_docs() -> dict[str, str]:
    """The docstrings written under an assignment in core/plugin.py (values such as tuples carry none)."""
    body = ast.parse(inspect.getsource(plugin)).body
    docs = {}
    for statement, following in itertools.pairwise(body):
        if (
            isinstance(statement, ast.Assign)
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.targets[0].id] = inspect.cleandoc(following.value.value)
    return docs


def _graphql_definition(obj):
    return getattr(obj, "__strawberry_definition__", None)


def doc(name: str, attribute_docs: dict[str, str] | None = None) -> str:
    """A kit name's documentation: its docstring in core/plugin.py, else the object's own (not one
    inherited, nor the signature a dataclass generates), else its GraphQL description."""
    attribute_docs = _attribute_docs() if attribute_docs is None else attribute_docs
    if name in attribute_docs:
        return attribute_docs[name]
    obj = getattr(plugin, name)
    own = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
    if own and not own.startswith(f"{getattr(obj, '__name__', name)}("):
        return inspect.cleandoc(own)
    definition = _graphql_definition(obj)
    return (definition.description or "") if definition is not None else ""


class _Annotation(str):
    """An annotation kept as source text (`from __future__ import annotations`), shown unquoted."""

    def __repr__(self) -> str:
        return str(self)


def _signature(obj) -> str:
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"

    def plain(annotation):
        return _Annotation(annotation) if isinstance(annotation, str) else annotation

    parameters = [p.replace(annotation=plain(p.annotation)) for p in signature.parameters.values()]
    return str(signature.replace(parameters=parameters, return_annotation=plain(signature.return_annotation)))


def _members(cls) -> list[tuple[str, object]]:
    """Public methods and properties a class adds (an override of a base's method, such as a
    TypeDecorator's `process_bind_param`, is the base's API, not the kit's)."""
    inherited = {name for base in cls.__mro__[1:] for name in vars(base)}
    return [
        (name, value)
        for name, value in vars(cls).items()
        if not name.startswith("_")
        and name not in inherited
        and (inspect.isfunction(value) or isinstance(value, (property, classmethod, staticmethod)))
    ]


def _member_line(name: str, value) -> str:
    if isinstance(value, property):
        return f"{name} (property)"
    function = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
    return f"{name}{_signature(function)}"


def _title(name: str) -> str:
    """How a name is shown: a call signature, a GraphQL type, a table, or a value."""
    obj = getattr(plugin, name)
    if isinstance(obj, type) and issubclass(obj, enum.Enum):
        return f"enum {name}: " + ", ".join(member.name for member in obj)
    if _graphql_definition(obj) is not None:
        return f"{name}: GraphQL type {_graphql_definition(obj).name}"
    if isinstance(obj, type) and hasattr(obj, "__table__"):
        return f"{name}: table {obj.__table__.name}"
    if isinstance(obj, type):
        bases = ", ".join(base.__name__ for base in obj.__bases__ if base is not object)
        return f"class {name}" + (f"({bases})" if bases else "")
    if inspect.isfunction(obj):
        return f"{name}{_signature(obj)}"
    if isinstance(obj, PLAIN_VALUES):
        return f"{name} = {obj!r}"
    return f"{name}: {type(obj).__name__}"


def _constructor(name: str, cls: type) -> str | None:
    signature = _signature(cls)
    return None if signature in ("(...)", "(*args, **kwargs)") else f"{name}{signature}"


def _details(name: str) -> list[str]:
    """What a snapshot promises beyond the title: dataclass fields, table columns, class members."""
    obj = getattr(plugin, name)
    if not isinstance(obj, type) or issubclass(obj, enum.Enum) or _graphql_definition(obj) is not None:
        return []
    if hasattr(obj, "__table__"):
        return [f"column {column.key}: {column.type!r}, nullable={column.nullable}" for column in obj.__table__.columns]
    fields = {f.name for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else set()
    constructor = _constructor(name, obj)
    lines = [constructor] if constructor else []
    lines += [
        f"{attribute} = {value!r}"
        for attribute, value in vars(obj).items()
        if not attribute.startswith("_") and attribute not in fields and isinstance(value, PLAIN_VALUES)
    ]
    return lines + [_member_line(member, value) for member, value in _members(obj)]


def snapshot() -> str:
    """The kit's public surface, one name after another in alphabetical order."""
    lines = [
        "# The public API of enishi.plugin. Generated by `enishi kit-api`; a change here is a",
        "# change of the plugin kit: record it in CHANGELOG.md (a removed or changed name breaks plugins).",
        "",
    ]
    for name in sorted(plugin.__all__, key=str.lower):
        lines.append(_title(name))
        lines += [f"    {detail}" for detail in _details(name)]
    return "\n".join(lines) + "\n"


def render() -> str:
    """docs/plugin-kit.md: the module's docstring, then every name by group with its documentation."""
    attribute_docs = _attribute_docs()
    lines = [
        "# Plugin kit reference: `enishi.plugin`",
        "",
        "<!-- Generated by `enishi kit-doc`; edit the docstrings in core/plugin.py and at each definition instead. -->",
        "",
        inspect.cleandoc(plugin.__doc__ or ""),
        "",
    ]
    for group, names in groups():
        lines += [f"## {group[0].upper()}{group[1:]}", ""]
        for name in names:
            lines += [f"### `{_title(name)}`", "", doc(name, attribute_docs), ""]
            obj = getattr(plugin, name)
            if isinstance(obj, type) and not hasattr(obj, "__table__") and _graphql_definition(obj) is None:
                if not issubclass(obj, enum.Enum) and _constructor(name, obj):
                    lines.append(f"- `{_constructor(name, obj)}`")
                for member, value in _members(obj):
                    function = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
                    summary = inspect.cleandoc(function.__doc__ or "").split("\n\n")[0].replace("\n", " ")
                    lines.append(f"- `{_member_line(member, value)}`" + (f": {summary}" if summary else ""))
                if lines[-1]:
                    lines.append("")
    return "\n".join(lines)
