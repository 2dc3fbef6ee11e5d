"""Finding, registering and calling plugins.

Every installed plugin stays registered, so its models load and its data-subject hooks always run;
"enabled" only gates its GraphQL contributions and event hooks (pretix's model)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from . import hookspecs
from .settings import Settings

ENTRY_POINT_GROUP = "enishi.plugins"
CORE_PLUGIN = "core"
# Called for installed plugins whether enabled or not: personal data must never be orphaned, and an
# event type a disabled plugin declares may still be emitted by another (a shop's purchases, for loyalty).
ALWAYS_CALLED = frozenset(
    {
        "enishi_migrations",
        "enishi_personal_data",
        "enishi_subject_collect",
        "enishi_subject_erase",
        "enishi_event_types",
        "enishi_retainable_entities",
    }
)

hookimpl = pluggy.HookimplMarker("enishi")
log = logging.getLogger("enishi.plugins")


class PluginError(RuntimeError):
    pass


async def await_me_maybe(value: Any) -> Any:
    """Hook implementations may return a value, a coroutine, or a callable giving either."""
    if callable(value):
        value = value()
    if inspect.isawaitable(value):
        value = await value
    return value


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    enabled: bool
    hooks: tuple[str, ...]


class PluginHost:
    def __init__(self, settings: Settings, extra_plugins: Iterable[tuple[str, object]] = (), *, core: object = None) -> None:
        """`core` is the core's own hook module (`enishi.hooks`), registered first as the plugin
        `core`. The runtime passes it in: the host cannot import it, since the core's hooks call
        the services, which run on units of work the runtime makes."""
        self.settings = settings
        self.pm = pluggy.PluginManager("enishi")
        self.pm.add_hookspecs(hookspecs)
        self._versions: dict[str, str] = {}
        self._implementations: dict[str, tuple[pluggy.HookImpl, ...]] = {}
        self._event_listeners: tuple[tuple[pluggy.HookImpl | None, pluggy.HookImpl | None], ...] | None = None
        if core is not None:
            self._register(CORE_PLUGIN, core, _distribution_version("enishi"))
        if settings.plugin_autoload:
            for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                try:
                    module = ep.load()
                except Exception as exc:
                    raise PluginError(f"plugin {ep.name!r} failed to import: {exc}") from exc
                self._register(ep.name, module, ep.dist.version if ep.dist else "unknown")
        for name, module in extra_plugins:
            self._register(name, module, getattr(module, "__version__", "unknown"))
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {exc.plugin!r} implements an unknown hook: {exc}") from exc
        unknown = (settings.enabled_plugins or frozenset()) - set(self._versions)
        if unknown:
            raise PluginError(f"ENISHI_PLUGINS names plugins that are not installed: {', '.join(sorted(unknown))}")

    def _register(self, name: str, module: object, version: str) -> None:
        if self.pm.has_plugin(name):
            raise PluginError(f"two plugins are named {name!r}")
        try:
            # A plugin may declare hooks of its own for others to implement (ABM asks for deal
            # stages; privacy answers consent checks): a module or class of pluggy hookspecs.
            if (specs := getattr(module, "ENISHI_HOOKSPECS", None)) is not None:
                self.pm.add_hookspecs(specs)
            self.pm.register(module, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(f"plugin {name!r} cannot be registered: {exc}") from exc
        self._refuse_wrappers(name)
        self._versions[name] = version

    def _refuse_wrappers(self, name: str) -> None:
        """The host calls implementations itself, awaiting each in turn, so nothing would run a
        wrapper's body: pluggy would register it and it would silently never take effect."""
        wrapped = sorted(
            caller.name
            for caller in self.pm.get_hookcallers(self.pm.get_plugin(name)) or ()
            for impl in caller.get_hookimpls()
            if impl.plugin_name == name and (impl.wrapper or impl.hookwrapper)
        )
        if wrapped:
            raise PluginError(
                f"plugin {name!r} implements {', '.join(wrapped)} as a wrapper (wrapper=True or hookwrapper=True), "
                "which Enishi does not run: implement the hook plainly and order it with tryfirst or trylast"
            )

    def is_enabled(self, name: str) -> bool:
        return name == CORE_PLUGIN or self.settings.plugin_enabled(name)

    def installed(self) -> list[PluginInfo]:
        infos = []
        for name in sorted(self._versions, key=lambda n: (n != CORE_PLUGIN, n)):
            plugin = self.pm.get_plugin(name)
            hooks = tuple(sorted(c.name for c in self.pm.get_hookcallers(plugin) or ()))
            infos.append(PluginInfo(name, self._versions[name], self.is_enabled(name), hooks))
        return infos

    def has_hook(self, hook_name: str) -> bool:
        """Whether any installed plugin declares this hook (a plugin's own hooks exist only when
        that plugin is installed; callers of optional providers check first)."""
        return hasattr(self.pm.hook, hook_name) and getattr(self.pm.hook, hook_name).spec is not None

    def implementations(self, hook_name: str) -> tuple[pluggy.HookImpl, ...]:
        """The implementations to call, in pluggy's order (tryfirst/trylast respected). Worked out
        once per hook: every plugin is registered when the host is built, and a job emitting
        thousands of events asked again for each."""
        impls = self._implementations.get(hook_name)
        if impls is None:
            impls = tuple(
                impl
                for impl in getattr(self.pm.hook, hook_name).get_hookimpls()[::-1]
                if hook_name in ALWAYS_CALLED or self.is_enabled(impl.plugin_name)
            )
            self._implementations[hook_name] = impls
        return impls

    def first_result_only(self, hook_name: str) -> bool:
        """Whether the hook is declared `firstresult`: pluggy stops at the first answer that is not
        None, and so does the host."""
        spec = getattr(self.pm.hook, hook_name).spec
        return spec is not None and bool(spec.opts.get("firstresult"))

    def contributions(self, hook_name: str) -> list[tuple[str, Any]]:
        """(plugin name, item) for every item of a contribution hook's lists."""
        items: list[tuple[str, Any]] = []
        first_only = self.first_result_only(hook_name)
        for impl in self.implementations(hook_name):
            result = impl.function()
            if inspect.isawaitable(result):
                raise PluginError(f"{impl.plugin_name}.{hook_name} must be synchronous")
            if result is None:
                continue
            if not isinstance(result, (list, tuple)):
                result = [result]
            items.extend((impl.plugin_name, item) for item in result)
            if first_only:
                break
        return items

    async def call(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a runtime hook plugin by plugin, awaiting each before the next: the implementations
        share one database session, which must never be used by two coroutines at once. A
        `firstresult` hook gives at most one answer, the first that is not None; the plugins after
        it are not called."""
        first_only = self.first_result_only(hook_name)
        results = []
        for impl in self.implementations(hook_name):
            result = await self.call_one(impl, **kwargs)
            if not first_only:
                results.append((impl.plugin_name, result))
            elif result is not None:
                return [(impl.plugin_name, result)]
        return results

    def event_listeners(self) -> tuple[tuple[pluggy.HookImpl | None, pluggy.HookImpl | None], ...]:
        """Each enabled plugin that hears events, as (its `enishi_on_event`, its `enishi_on_events`),
        either None, in calling order: pluggy's for the first it implements (tryfirst, then the
        last registered first, then trylast). Worked out once, as `implementations`."""
        listeners = self._event_listeners
        if listeners is None:
            one = {impl.plugin_name: impl for impl in self.implementations("enishi_on_event")}
            many = {impl.plugin_name: impl for impl in self.implementations("enishi_on_events")}
            registered = list(self._versions)

            def order(name: str) -> tuple[int, int]:
                impl = one.get(name) or many[name]
                return (0 if impl.tryfirst else 2 if impl.trylast else 1, -registered.index(name))

            listeners = tuple((one.get(name), many.get(name)) for name in sorted(one.keys() | many.keys(), key=order))
            self._event_listeners = listeners
        return listeners

    async def deliver_events(self, events: list, uow: Any, *, together: bool) -> None:
        """Run the plugins' event hooks on `events` (of one type), plugin by plugin. Events raised
        `together` (`uow.emit_many`) go to a plugin's `enishi_on_events` at once, else one by one
        to its `enishi_on_event`; an event raised alone (`uow.emit`) goes to `enishi_on_event`, else
        to `enishi_on_events` as a list of one. Every plugin hears every event exactly once."""
        for one, many in self.event_listeners():
            if many is not None and (together or one is None):
                await self.call_one(many, events=events, uow=uow)
            else:
                assert one is not None  # a listener implements one of the two
                for event in events:
                    await self.call_one(one, event=event, uow=uow)

    @staticmethod
    async def call_one(impl: pluggy.HookImpl, **kwargs: Any) -> Any:
        """Call one plugin's implementation (data-subject requests run each plugin on its own,
        so that one failure is retried alone)."""
        return await await_me_maybe(impl.function(**{name: kwargs[name] for name in impl.argnames}))


def _distribution_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "0+unknown"
