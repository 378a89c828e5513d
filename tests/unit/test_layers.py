"""The package's import graph: no cycle between modules, and every import points down the
stack (README, "Where each step lives"). Read from the source with ``ast``, so imports made
inside function bodies count as much as those at the top of a module."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "sieve"

# Lower imports nothing from higher. Equal ranks may not import each other unless they are
# the same package; store and migrations share a rank (the migration env reads the tables).
RANKS: dict[str, int] = {
    "sieve.core": 0,
    "sieve.models": 1,
    "sieve.routing": 1,
    "sieve.labeler": 1,
    "sieve.store": 2,
    "sieve.migrations": 2,
    "sieve.workers": 3,  # the modules shared by the processes: Kafka adapter, label set...
    "sieve.workers.stream": 4,
    "sieve.workers.llm": 4,  # the Celery app; tasks are sent by name
    "sieve.workers.distill": 5,  # its tasks run on the LLM workers' Celery app
    "sieve.wiring": 6,
    "sieve.jobs": 7,
    "sieve.admin": 8,
    "sieve.demo": 8,
    "sieve.bench": 9,
    "sieve.cli": 10,
}
SAME_RANK_ALLOWED = {("sieve.store", "sieve.migrations"), ("sieve.migrations", "sieve.store")}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = modules()


def _resolve(name: str) -> str | None:
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> Iterator[tuple[str, int]]:
    """(imported sieve module, line) for every import in the module, at any depth, except
    those under ``if TYPE_CHECKING:``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in _walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target and target != module and not module.startswith(target + "."):
                yield target, node.lineno


# SQL lives in sieve/store (and the migrations): elsewhere only engines, URLs and the
# driver's exceptions may come from SQLAlchemy, and the schema module is not imported.
SQL_HOME = ("sieve.store", "sieve.migrations")
SQLALCHEMY_ALLOWED = {
    "sqlalchemy": {"Engine", "Connection"},
    "sqlalchemy.engine": {"Engine", "Connection", "URL", "make_url"},
    "sqlalchemy.exc": None,  # any exception
}


def sql_imports(source: str, package: str) -> list[str]:
    """The imports in ``source`` that only the store may make, as ``line: what``; a
    module of ``package`` resolves relative imports. Imports under ``if TYPE_CHECKING:``
    count too: a type from the schema is still the schema."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            pairs = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            pairs = [(base, alias.name) for alias in node.names]
        else:
            continue
        for module, name in pairs:
            full = f"{module}.{name}" if name else module
            if full == "sieve.store.tables" or full.startswith("sieve.store.tables."):
                found.append(f"{node.lineno}: {full}")
            elif module == "sqlalchemy" or module.startswith("sqlalchemy."):
                allowed = SQLALCHEMY_ALLOWED.get(module, set())
                if name is None or (allowed is not None and name not in allowed):
                    found.append(f"{node.lineno}: {full}")
    return found


def test_sql_stays_in_the_store() -> None:
    wrong = []
    for module, path in sorted(MODULES.items()):
        if any(module == home or module.startswith(home + ".") for home in SQL_HOME):
            continue
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for found in sql_imports(path.read_text(), package):
            wrong.append(f"{path.relative_to(PACKAGE.parent)}:{found}")
    assert not wrong, "SQL outside sieve/store (move the query into a store module):\n" + (
        "\n".join(wrong)
    )


@pytest.mark.parametrize(
    ("source", "package", "flagged"),
    [
        ("from sqlalchemy import Engine", "sieve.demo", []),
        ("from sqlalchemy.exc import OperationalError", "sieve.demo", []),
        ("from sqlalchemy.engine import make_url", "sieve", []),
        ("from kombu.transport.sqlalchemy import Transport", "sieve.workers", []),
        ("from sieve.store.labels import LabelStatus", "sieve.demo", []),
        ("from sqlalchemy import Engine, select", "sieve.demo", ["1: sqlalchemy.select"]),
        ("import sqlalchemy as sa", "sieve.demo", ["1: sqlalchemy"]),
        ("from sqlalchemy.sql import func", "sieve.demo", ["1: sqlalchemy.sql.func"]),
        ("def f():\n    from sqlalchemy import text", "sieve.admin", ["2: sqlalchemy.text"]),
        ("from sieve.store.tables import labels", "sieve.demo", ["1: sieve.store.tables.labels"]),
        ("from sieve.store import tables", "sieve.demo", ["1: sieve.store.tables"]),
        ("from ..store.tables import labels", "sieve.workers.llm", []),
        (
            "from ...store.tables import labels",
            "sieve.workers.llm",
            ["1: sieve.store.tables.labels"],
        ),
        ("import sieve.store.tables", "sieve.demo", ["1: sieve.store.tables"]),
    ],
)
def test_the_sql_rule_flags_queries_and_the_schema(
    source: str, package: str, flagged: list[str]
) -> None:
    assert sql_imports(source, package) == flagged


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            continue
        yield child
        yield from _walk(child)


def layer(module: str) -> str:
    best = ""
    for name in RANKS:
        if (module == name or module.startswith(name + ".")) and len(name) > len(best):
            best = name
    assert best, f"{module} belongs to no layer: add its package to RANKS"
    return best


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        if module != "sieve":
            layer(module)


def test_imports_point_down_the_stack() -> None:
    wrong: set[str] = set()
    for module in sorted(MODULES):
        if module == "sieve":
            continue
        here = layer(module)
        for target, line in imports_of(module):
            there = layer(target)
            if here == there or (here, there) in SAME_RANK_ALLOWED:
                continue
            if RANKS[there] >= RANKS[here]:
                wrong.add(f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} {target}")
    assert not wrong, "imports pointing up or sideways:\n" + "\n".join(sorted(wrong))


def test_no_import_cycle_between_modules() -> None:
    graph = {module: {target for target, _ in imports_of(module)} for module in MODULES}
    cycles = [component for component in _strongly_connected(graph) if len(component) > 1]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(sorted(c)) for c in cycles)


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


@pytest.mark.parametrize(
    ("graph", "expected"),
    [({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]), ({"a": {"b"}, "b": set()}, [])],
)
def test_the_cycle_finder_finds_cycles(
    graph: dict[str, set[str]], expected: list[list[str]]
) -> None:
    found = sorted(sorted(c) for c in _strongly_connected(graph) if len(c) > 1)
    assert found == expected


# kafka-python is imported by one module only; the rest of sieve sees Sieve's own records,
# roles and errors (sieve.workers.records, sieve.core.errors).
KAFKA_ADAPTER = "sieve.workers.kafka_adapter"


def kafka_imports(source: str) -> list[int]:
    """Lines of ``source`` that import kafka-python, at any depth (function bodies and
    ``if TYPE_CHECKING:`` blocks included: its types must not leak either)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        else:
            continue
        if any(name == "kafka" or name.startswith("kafka.") for name in names):
            lines.append(node.lineno)
    return lines


def test_only_the_kafka_adapter_imports_kafka_python() -> None:
    found = {
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for module, path in MODULES.items()
        if module != KAFKA_ADAPTER
        for line in kafka_imports(path.read_text())
    }
    assert not found, "kafka-python imported outside the adapter:\n" + "\n".join(sorted(found))
    assert kafka_imports(MODULES[KAFKA_ADAPTER].read_text()), "the adapter no longer imports it?"


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        ("import kafka", [1]),
        ("import os\nfrom kafka.errors import KafkaError", [2]),
        ("def f():\n    import kafka.structs as s", [2]),
        ("if TYPE_CHECKING:\n    from kafka import KafkaConsumer", [2]),
        ("from sieve.workers import kafka_adapter\nimport kafkaesque", []),
        ("from .kafka import x", []),
    ],
)
def test_the_kafka_import_finder_finds_them(source: str, lines: list[int]) -> None:
    assert kafka_imports(source) == lines
