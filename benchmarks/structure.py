"""Structure facts of the alttext package, read from its source with ``ast``:

- import loops between the project's modules (top-level imports, and all imports);
- function-level imports of the project's own modules (the lazy heavy imports of torch,
  transformers and the like are imports of other packages, and are not counted);
- modules of 450 lines or more;
- functions of more than 60 lines.

    python3 benchmarks/structure.py [--strict]

Prints each list; ``--strict`` exits 1 on an import loop, a module of 450 lines or more, or a
function-level import of the project's own modules that ``LAZY`` does not list.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections.abc import Iterator

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.join(os.path.dirname(HERE), "alttext")
MODULE_LINES = 450
FUNCTION_LINES = 60
# The deliberate lazy imports of the project's own modules: the module that makes them, the modules
# it may import late (a name ending in "." stands for the package's modules), and why. Each keeps
# something heavy out of a path that does not need it.
LAZY = {
    "alttext.cli": (("alttext.subcommands.", "alttext.scan.files"),
                    "each command's module loads when that command runs (scan.files for --shard), so --version, "
                    "--help and check never load describe, fix, watch or their libraries"),
    "alttext.pipeline.backends": (("alttext.pipeline.caption", "alttext.pipeline.captioner_openai", "alttext.pipeline.writer_transformers",
                                   "alttext.pipeline.writer_openai"),
                                  "a backend's module loads when it is chosen (the registry lists names; a server backend never "
                                  "loads torch, the in-process ones never load openai)"),
    "alttext.scan": (("alttext.scan.html", "alttext.scan.markdown"),
                     "each reader loads when a file of its kind comes: a run over HTML alone never loads markdown-it"),
}


def deliberate(module: str, imported: str) -> bool:
    allowed = LAZY.get(module, ((), ""))[0]
    return any(imported.startswith(a) if a.endswith(".") else imported == a for a in allowed)


def modules() -> dict[str, str]:
    """Module name -> path, for every .py file of the package."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                relative = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].replace(os.sep, ".")
                found[relative.removesuffix(".__init__")] = path
    return found


def own_imports(tree: ast.AST, module: str, known: dict[str, str]) -> Iterator[tuple[ast.AST, str, bool]]:
    """(node, imported module, at top level) for each import of the project's own modules."""
    top = {id(node) for node in getattr(tree, "body", [])}
    package = module if known.get(module, "").endswith("__init__.py") else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                yield node, name, id(node) in top or _under_type_checking(tree, node)


def _under_type_checking(tree: ast.AST, target: ast.AST) -> bool:
    for node in getattr(tree, "body", []):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            if any(child is target for child in ast.walk(node)):
                return True
    return False


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 on an import loop, an unlisted function-level own import or a long module")
    args = parser.parse_args(argv)
    known = modules()
    top_graph: dict[str, set[str]] = {m: set() for m in known}
    all_graph: dict[str, set[str]] = {m: set() for m in known}
    lazy: list[str] = []
    unlisted: list[str] = []
    long_modules: list[str] = []
    long_functions: list[str] = []
    for module, path in sorted(known.items()):
        with open(path, encoding="utf-8") as f:
            source = f.read()
        tree = ast.parse(source)
        count = len(source.splitlines())
        if count >= MODULE_LINES:
            long_modules.append(f"{os.path.relpath(path, os.path.dirname(PACKAGE))}: {count} lines")
        for node, imported, at_top in own_imports(tree, module, known):
            all_graph[module].add(imported)
            if at_top:
                top_graph[module].add(imported)
            else:
                place = f"{os.path.relpath(path, os.path.dirname(PACKAGE))}:{node.lineno}: {imported}"
                (lazy if deliberate(module, imported) else unlisted).append(place)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > FUNCTION_LINES:
                    long_functions.append(f"{os.path.relpath(path, os.path.dirname(PACKAGE))}:{node.lineno}: {node.name} ({length} lines)")
    report = {
        "import loops (top-level imports)": [" <-> ".join(c) for c in loops(top_graph)],
        "import loops (with function-level imports)": [" <-> ".join(c) for c in loops(all_graph)],
        "function-level imports of the project's own modules, deliberate (LAZY)": lazy,
        "function-level imports of the project's own modules, not in LAZY": unlisted,
        f"modules of {MODULE_LINES} lines or more": long_modules,
        f"functions over {FUNCTION_LINES} lines": long_functions,
    }
    for title, items in report.items():
        print(f"{title}: {len(items)}")
        for item in items:
            print(f"  {item}")
    for module, (_, reason) in LAZY.items():
        print(f"  why {module} imports late: {reason}")
    failing = report["import loops (with function-level imports)"] or unlisted or long_modules
    return 1 if args.strict and failing else 0


if __name__ == "__main__":
    sys.exit(main())
