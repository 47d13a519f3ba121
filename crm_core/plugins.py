"""Plugin loading: the core's own capabilities, then installed plugins from entry points.

The core registers each capability package that has a ``hooks.py`` (``crm_core/auth/hooks.py`` is
the plugin ``core.auth``), then every entry point in the group ``crm_core``. Plugins are
registered in dependency order (a plugin module's ``requires`` tuple names the plugins it needs),
so migrations and hook order are deterministic whatever the install order.

A plugin that cannot be used is reported (``crm plugins``, ``GET /api/v1/plugins``, the log) and
skipped, and the app still starts: one that fails to import, misses a requirement, or whose hook
implementations pluggy rejects (arguments the hookspec does not have, a hook that does not exist).
The plugins that require a skipped plugin are skipped too.

Hooks are always called through pluggy (``manager.hook.<name>(**kwargs)``), so ``tryfirst``,
``trylast`` and wrappers mean what they mean in pluggy. Where the core needs to know which plugin
returned what, :meth:`PluginManager.calls` calls the hook once per implementing plugin, each call
through pluggy's own call loop and inside every wrapper (:class:`PluginHookCaller`), in pluggy's
call order.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pluggy

import crm_core

from . import __version__, hookspecs

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "crm_core"


@dataclass
class PluginInfo:
    """What ``crm plugins`` and ``GET /api/v1/plugins`` report about one plugin."""

    name: str
    version: str
    source: str  # "core", "entry point" or "registered"
    enabled: bool = True
    error: str | None = None
    requires: tuple[str, ...] = ()
    hooks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-ready view of this plugin."""
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "enabled": self.enabled,
            "status": "failed" if self.error else ("enabled" if self.enabled else "disabled"),
            "error": self.error,
            "requires": list(self.requires),
            "hooks": self.hooks,
        }


class PluginError(RuntimeError):
    """A plugin cannot be registered (missing requirement, cycle)."""


class PluginHookCaller:
    """Calls one plugin's implementation of a hook, inside every wrapper of the hook, through
    pluggy's own call loop (what ``pluggy.HookCaller.__call__`` and
    ``PluginManager.subset_hook_caller`` use). Unlike ``subset_hook_caller`` it selects the
    plugin by identity, so plugins need not be hashable (``types.SimpleNamespace`` is not)."""

    def __init__(self, hook: pluggy.HookCaller, plugin: object):
        self.hook, self.plugin = hook, plugin

    def get_hookimpls(self) -> list[pluggy.HookImpl]:
        """The plugin's implementation and the hook's wrappers, in pluggy's order."""
        return [
            impl
            for impl in self.hook.get_hookimpls()
            if impl.plugin is self.plugin or impl.wrapper or impl.hookwrapper
        ]

    @property
    def firstresult(self) -> bool:
        """True when the hookspec says ``firstresult`` (the call returns one value, not a list)."""
        spec = self.hook.spec
        return bool(spec and spec.opts.get("firstresult"))

    def __call__(self, **kwargs):
        return self.hook._hookexec(self.hook.name, self.get_hookimpls(), kwargs, self.firstresult)


class PluginManager:
    """Wraps pluggy's manager with loading, dependency order and a listing of plugins."""

    def __init__(self, disabled: set[str] | None = None):
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.disabled = set(disabled or ())
        self.infos: dict[str, PluginInfo] = {}
        self._spec_sources: list[object] = []  # the plugins' ``hookspecs`` already added

    @property
    def hook(self):
        """The pluggy hook relay: ``manager.hook.crm_models()``."""
        return self.pm.hook

    def load(self, extra: list[tuple[str, object]] | None = None) -> None:
        """Register the core capabilities, installed entry points and ``extra`` (name, plugin)."""
        candidates: list[tuple[str, object, str, str]] = []
        for name, module in _core_modules():
            candidates.append((name, module, "core", _core_version()))
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            version = ep.dist.version if ep.dist else "?"
            if ep.name in self.disabled:
                self.infos[ep.name] = PluginInfo(ep.name, version, "entry point", enabled=False)
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must never take the app down
                log.error("plugin %r failed to import and is skipped: %s", ep.name, exc)
                self.infos[ep.name] = PluginInfo(
                    ep.name, version, "entry point", enabled=False, error=f"{type(exc).__name__}: {exc}"
                )
                continue
            candidates.append((ep.name, module, "entry point", version))
        for name, plugin in extra or []:
            candidates.append((name, plugin, "registered", getattr(plugin, "__version__", "0")))
        ordered = self._ordered(candidates)
        # every plugin's own hookspecs first: an implementation is then checked against its spec
        # when it registers, and a bad one skips its own plugin, not the one offering the hook
        for name, plugin, _source, _version in ordered:
            if name not in self.disabled:
                self._add_specs(plugin)
        for name, plugin, source, version in ordered:
            failed = [dep for dep in getattr(plugin, "requires", ()) if self._failed(dep)]
            if failed:
                self._skip(
                    PluginInfo(name, version, source, requires=tuple(plugin.requires)),
                    f"requires plugin {failed[0]!r}, which failed to load",
                )
                continue
            self.register(plugin, name, source=source, version=version)
        self._check_pending()

    def _failed(self, name: str) -> bool:
        info = self.infos.get(name)
        return info is not None and info.error is not None

    def _check_pending(self) -> None:
        """pluggy's ``check_pending`` (a hook implementation with no hookspec: a typo), reporting
        and skipping each offending plugin instead of failing the whole app."""
        while True:
            try:
                self.pm.check_pending()
            except pluggy.PluginValidationError as exc:
                name = self.pm.get_name(exc.plugin)
                if name is None or name not in self.infos:
                    raise
                self._skip(self.infos[name], _validation_error(exc))
            else:
                return

    def _skip(self, info: PluginInfo, error: str) -> None:
        """Unregister ``info``'s plugin (if registered) and report it failed with ``error``; the
        plugins that require it are skipped too."""
        log.error("plugin %r is skipped: %s", info.name, error)
        if self.pm.has_plugin(info.name):
            self.pm.unregister(name=info.name)
        self.infos[info.name] = PluginInfo(
            info.name, info.version, info.source, enabled=False, error=error, requires=info.requires
        )
        for other in list(self.infos.values()):
            if info.name in other.requires and other.error is None and self.pm.has_plugin(other.name):
                self._skip(other, f"requires plugin {info.name!r}, which failed to load")

    def register(self, plugin: object, name: str, source: str = "registered", version: str = "0") -> bool:
        """Register one plugin object or module under ``name``; False if it is disabled, or if
        pluggy rejects one of its hook implementations (then it is reported failed and skipped).

        A plugin that offers hooks to other plugins names them in a ``hookspecs`` attribute (a
        module or class of functions marked ``@crm_core.hookspec``): they are added before its
        implementations, so other plugins implement them like the core's (their arguments are
        checked, no ``optionalhook``), whichever of the two was installed first."""
        requires = tuple(getattr(plugin, "requires", ()))
        info = PluginInfo(name, version, source, requires=requires)
        if name in self.disabled:
            info.enabled = False
            self.infos[name] = info
            return False
        try:
            self._add_specs(plugin)
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            self._skip(info, _validation_error(exc))
            return False
        info.hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
        self.infos[name] = info
        return True

    def _add_specs(self, plugin: object) -> None:
        """Add ``plugin.hookspecs`` to the manager, once per spec object."""
        specs = getattr(plugin, "hookspecs", None)
        if specs is None or any(specs is known for known in self._spec_sources):
            return
        self._spec_sources.append(specs)
        self.pm.add_hookspecs(specs)

    def _ordered(self, candidates):
        """Topologically sort candidates by their ``requires``; drop those missing a requirement."""
        by_name = {c[0]: c for c in candidates}
        ordered, state = [], {}

        def visit(name, chain):
            if state.get(name) == "done":
                return True
            if state.get(name) == "visiting":
                raise PluginError(f"plugin dependency cycle: {' -> '.join([*chain, name])}")
            cand = by_name[name]
            state[name] = "visiting"
            for dep in getattr(cand[1], "requires", ()):
                if dep not in by_name or self.infos.get(dep, PluginInfo(dep, "", "")).error:
                    self.infos[name] = PluginInfo(
                        name,
                        cand[3],
                        cand[2],
                        enabled=False,
                        requires=tuple(cand[1].requires),
                        error=f"requires plugin {dep!r}, which is not installed or enabled",
                    )
                    state[name] = "done"
                    log.error("plugin %r skipped: requires %r", name, dep)
                    return False
                if not visit(dep, [*chain, name]):
                    state[name] = "done"
                    return False
            state[name] = "done"
            ordered.append(cand)
            return True

        for name in by_name:
            visit(name, [])
        return ordered

    def plugin_names(self) -> list[str]:
        """Names of the registered (enabled) plugins in registration order."""
        return [name for name, _ in self.pm.list_name_plugin()]

    def per_plugin(self, hook_name: str) -> list[tuple[str, PluginHookCaller]]:
        """``[(plugin_name, caller)]``: one hook caller per plugin implementing ``hook_name``, in
        pluggy's call order (``tryfirst`` first, then the most recently registered, ``trylast``
        last).

        Each caller calls that plugin's implementation, wrapped by every wrapper of the hook. For
        the core's per-plugin work: an event consumer that fails is retried alone, a result is
        reported under its plugin's name.
        """
        hook = getattr(self.pm.hook, hook_name)
        impls = [impl for impl in hook.get_hookimpls() if not (impl.wrapper or impl.hookwrapper)]
        # pluggy calls the end of its list first
        return [(impl.plugin_name, PluginHookCaller(hook, impl.plugin)) for impl in reversed(impls)]

    def calls(self, hook_name: str, **kwargs) -> list[tuple[str, object]]:
        """Call ``hook_name`` with ``kwargs`` once per implementing plugin: ``[(plugin_name,
        result), ...]`` in pluggy's call order, leaving out ``None`` results (see
        :meth:`per_plugin`).

        Used where the core needs to know which plugin returned what (migrations, jobs, actions,
        menus, templates, privacy export). Use :meth:`in_dependency_order` where the order of
        the plugins' dependencies matters (migrations).
        """
        out = []
        for name, caller in self.per_plugin(hook_name):
            result = caller(**kwargs)
            for item in [result] if caller.firstresult else result:
                if item is not None:
                    out.append((name, item))
        return out

    def in_dependency_order(self, pairs: list[tuple[str, object]]) -> list[tuple[str, object]]:
        """``pairs`` (``(plugin_name, value)``) sorted by registration order, which is dependency
        order: a plugin comes after the plugins it requires."""
        order = {name: i for i, name in enumerate(self.plugin_names())}
        return sorted(pairs, key=lambda pair: order.get(pair[0], len(order)))

    def listing(self) -> list[dict]:
        """Every plugin known, enabled or not, as dicts (core first)."""
        return [
            info.as_dict() for info in sorted(self.infos.values(), key=lambda i: (i.source != "core", i.name))
        ]


def _validation_error(exc: pluggy.PluginValidationError) -> str:
    """pluggy's (multi-line) message on one line, for listings and logs."""
    return "PluginValidationError: " + "; ".join(
        line.strip() for line in str(exc).splitlines() if line.strip()
    )


def _core_modules() -> list[tuple[str, ModuleType]]:
    """The core's capability packages that carry a ``hooks.py``, as (``core.<name>``, module)."""
    found = []
    for mod in pkgutil.iter_modules(crm_core.__path__):
        # look for the file rather than importing: a package without hooks.py (crm_core.testing,
        # the pytest plugin) must not be imported by every app
        if not mod.ispkg or not (Path(mod.module_finder.path) / mod.name / "hooks.py").is_file():
            continue
        hooks = importlib.import_module(f"crm_core.{mod.name}.hooks")
        found.append((f"core.{mod.name}", hooks))
    return found


def _core_version() -> str:
    return __version__


def disabled_from_env(value: str | None = None) -> set[str]:
    """Parse ``CRM_PLUGINS_DISABLED`` (comma-separated plugin names)."""
    value = os.environ.get("CRM_PLUGINS_DISABLED", "") if value is None else value
    return {part.strip() for part in value.split(",") if part.strip()}
