"""The core's shape, checked: declared layers, function-level imports that say why, small modules.

- ``lint-imports`` keeps every contract in ``.importlinter`` (the layers, plugins independent of
  each other, the core knowing no plugin).
- A function-level import of a crm_core module hides a dependency from the reader; one stays only
  for a real import-time cycle, an optional dependency or a deliberate lazy load, and then says
  which in a comment on the line above (or on the same line).
- No module in crm_core is over ``MAX_LINES`` lines: a longer one holds more than one concept.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import crm_core

PACKAGE = Path(crm_core.__file__).resolve().parent
REPO = PACKAGE.parent
MAX_LINES = 500

#: A comment that only silences a linter says nothing about why.
_LINTER_ONLY = re.compile(r"^(noqa(:\s*[A-Z0-9, ]+)?|type:\s*ignore(\[[^\]]*\])?|pragma:.*)$")


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    """``path`` relative to the repository (as the pending lists name it), else as given."""
    return path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else str(path)


def _is_core_import(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] == "crm_core"
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] == "crm_core" for alias in node.names)
    return False


def function_level_imports(source: str) -> list[ast.stmt]:
    """The imports of crm_core modules (absolute or relative) inside a function of ``source``."""
    found: list[ast.stmt] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if in_function and _is_core_import(child):
                found.append(child)
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(child, inside)

    visit(ast.parse(source), False)
    return found


def _comments(source: str) -> dict[int, tuple[str, bool]]:
    """``{line: (comment text, alone on its line)}`` of every comment in ``source``."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            alone = not tok.line[: tok.start[1]].strip()
            out[tok.start[0]] = (tok.string.lstrip("#").strip(), alone)
    return out


def _says_why(text: str) -> bool:
    return bool(text) and not _LINTER_ONLY.match(text)


def unexplained_imports(path: Path) -> list[str]:
    """``"path:line: import"`` for each function-level crm_core import in ``path`` with no reason
    given in a comment on the line above or on its own line(s)."""
    source = path.read_text(encoding="utf-8")
    comments = _comments(source)
    problems = []
    for node in function_level_imports(source):
        above = comments.get(node.lineno - 1)
        same = [comments.get(line) for line in range(node.lineno, node.end_lineno + 1)]
        reasons = [c[0] for c in same if c] + ([above[0]] if above and above[1] else [])
        if not any(_says_why(r) for r in reasons):
            problems.append(f"{_name(path)}:{node.lineno}: {ast.unparse(node)}")
    return problems


def _line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_import_contracts_are_kept():
    """Every contract in .importlinter holds (run as CI runs it)."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(REPO / ".importlinter")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert re.search(r"Contracts: \d+ kept, 0 broken\.", report), report


def test_function_level_imports_say_why():
    """Each function-level import of a crm_core module is explained (cycle, optional dependency
    or lazy load) next to it."""
    problems = [problem for path in _modules() for problem in unexplained_imports(path)]
    assert not problems, f"{len(problems)} function-level imports without a reason:\n" + "\n".join(problems)


def test_no_module_is_over_the_line_limit():
    """No crm_core module is over ``MAX_LINES`` lines."""
    over = {_name(p): _line_count(p) for p in _modules() if _line_count(p) > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines: {over}"


def test_the_checker_finds_and_accepts_what_it_should(tmp_path):
    """The import check sees relative and absolute imports at any depth of a function, and takes
    a comment above or beside as the reason, but not a bare ``noqa``."""
    module = tmp_path / "sample.py"
    module.write_text(
        "import crm_core\n"
        "from . import top_level_is_fine\n"
        "def f():\n"
        "    from .a import b\n"
        "    # cycle: a imports this module at import time\n"
        "    from .c import d\n"
        "    from crm_core.e import g  # optional: only with the extra installed\n"
        "    import crm_core.h  # noqa: PLC0415\n"
        "    def inner():\n"
        "        import json\n"
        "        from crm_core import i\n"
        "    return lambda: None\n",
        encoding="utf-8",
    )
    found = function_level_imports(module.read_text(encoding="utf-8"))
    assert [n.lineno for n in found] == [4, 6, 7, 8, 11]
    unexplained = [problem.split(":")[-2] for problem in unexplained_imports(module)]
    assert unexplained == ["4", "8", "11"]
