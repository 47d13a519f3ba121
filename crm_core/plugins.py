"""Plugin loading: the core's own capabilities, then installed plugins from entry points.

The core registers each capability package that has a ``hooks.py`` (``crm_core/auth/hooks.py`` is
the plugin ``core.auth``), then every entry point in the group ``crm_core``. Plugins are
registered in dependency order (a plugin module's ``requires`` tuple names the plugins it needs),
so migrations and hook order are deterministic whatever the install order.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import pkgutil
from dataclasses import dataclass, field
from types import ModuleType

import pluggy

from . import hookspecs

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


class PluginManager:
    """Wraps pluggy's manager with loading, dependency order and a listing of plugins."""

    def __init__(self, disabled: set[str] | None = None):
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.disabled = set(disabled or ())
        self.infos: dict[str, PluginInfo] = {}

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
        for name, plugin, source, version in self._ordered(candidates):
            self.register(plugin, name, source=source, version=version)
        self.pm.check_pending()

    def register(self, plugin: object, name: str, source: str = "registered", version: str = "0") -> None:
        """Register one plugin object or module under ``name`` (skipped if disabled)."""
        requires = tuple(getattr(plugin, "requires", ()))
        if name in self.disabled:
            self.infos[name] = PluginInfo(name, version, source, enabled=False, requires=requires)
            return
        self.pm.register(plugin, name=name)
        hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
        self.infos[name] = PluginInfo(name, version, source, requires=requires, hooks=hooks)

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

    def calls(self, hook_name: str) -> list[tuple[str, object]]:
        """Call a no-argument hook per plugin: ``[(plugin_name, result), ...]`` in registration order.

        Used where the core needs to know which plugin returned what (migrations, jobs, tags).
        """
        out = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            result = impl.function()
            if result is not None:
                out.append((impl.plugin_name, result))
        order = {n: i for i, n in enumerate(self.plugin_names())}
        return sorted(out, key=lambda pair: order.get(pair[0], 0))

    def listing(self) -> list[dict]:
        """Every plugin known, enabled or not, as dicts (core first)."""
        return [
            info.as_dict() for info in sorted(self.infos.values(), key=lambda i: (i.source != "core", i.name))
        ]


def _core_modules() -> list[tuple[str, ModuleType]]:
    """The core's capability packages that carry a ``hooks.py``, as (``core.<name>``, module)."""
    import crm_core

    found = []
    for mod in pkgutil.iter_modules(crm_core.__path__):
        if not mod.ispkg:
            continue
        try:
            hooks = importlib.import_module(f"crm_core.{mod.name}.hooks")
        except ModuleNotFoundError as exc:
            if exc.name == f"crm_core.{mod.name}.hooks":
                continue
            raise
        found.append((f"core.{mod.name}", hooks))
    return found


def _core_version() -> str:
    from . import __version__

    return __version__


def disabled_from_env(value: str | None = None) -> set[str]:
    """Parse ``CRM_PLUGINS_DISABLED`` (comma-separated plugin names)."""
    value = os.environ.get("CRM_PLUGINS_DISABLED", "") if value is None else value
    return {part.strip() for part in value.split(",") if part.strip()}
