"""crm-core and plugins installed into a new virtual environment, for tests of what a
third party gets: the packages' data files, entry points and dependencies, nothing of this tree.

Each source is built from a copy: setuptools leaves (and reuses) ``build/`` and ``*.egg-info``
beside the sources it builds, and a stale ``build/lib`` holding modules since moved would be
packed into the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

#: What a copy of a source leaves out: build leftovers, environments, caches, the plugins and
#: examples beside the core (each is its own distribution, installed only when asked for).
_IGNORED = shutil.ignore_patterns(
    "build", ".venv", ".git", "*.egg-info", "__pycache__", "instance", "test-artifacts", ".*cache*"
)
_NOT_THE_CORE = ("plugins", "examples")


class Install:
    """A virtual environment with the packages installed; commands run there with a clean
    ``CRM_*`` environment (an instance folder and secret of their own, SQLite by default)."""

    def __init__(self, venv: Path, folder: Path, env: dict[str, str]):
        self.bin = venv / "bin"
        self.folder = folder
        self.env = env

    def run(self, *args: str) -> str:
        """Run a command of the environment (``crm``, ``python``...) and return its output;
        the test fails with the output when it exits non-zero."""
        done = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.folder,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def crm(self, *args: str) -> str:
        """``crm ARGS...`` in the environment."""
        return self.run("crm", *args)

    def python(self, code: str, *args: str) -> str:
        """``python -c CODE ARGS...`` in the environment."""
        return self.run("python", "-c", code, *args)

    def distributions(self) -> list[str]:
        """The installed ``crm-*`` distributions, sorted (what came along with the sources)."""
        # importlib.metadata, not ``pip list``: an environment made by uv has no pip
        names = self.python(
            "import importlib.metadata as m\nprint('\\n'.join(d.metadata['Name'] for d in m.distributions()))"
        )
        return sorted({name for name in names.split() if name.startswith("crm-")})


def install(folder: Path, core: Path, *plugins: Path, env: dict[str, str] | None = None) -> Install:
    """Install copies of the core at ``core`` (a checkout of crm-core) and of each plugin source
    into a new virtual environment under ``folder`` (a test's ``tmp_path``).

    With uv beside the running interpreter (the test extras install it) the environment is made
    and filled by uv, about four times faster than venv and pip; otherwise by venv and pip. Both
    resolve the same requirements from the same sources, so what is tested is the same install."""
    venv = folder / "venv"
    copies = [_copy(core, folder / "src" / "core", skip=_NOT_THE_CORE)]
    copies += [_copy(plugin, folder / "src" / plugin.name) for plugin in plugins]
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv:
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        command = [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python")]
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        command = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    done = subprocess.run([*command, *map(str, copies)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    clean.update(CRM_INSTANCE_PATH=str(folder / "instance"), CRM_SECRET_KEY="install-test", **(env or {}))
    return Install(venv, folder, clean)


def _copy(source: Path, target: Path, skip: tuple[str, ...] = ()) -> Path:
    def ignored(directory, names):
        top = {n for n in names if n in skip} if Path(directory) == source else set()
        return set(_IGNORED(directory, names)) | top

    return Path(shutil.copytree(source, target, ignore=ignored))
