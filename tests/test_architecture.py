"""The seams, checked on the source: the import graph of the `monitor` package has no cycle, the
alerts never reach into the collectors, nothing but the command line imports the composition root,
no SQL is written outside the store and the projections, and the digests and the relay read alerts
by attribute (monitor/alerts/alert.py decodes them), never by string key.

The graph is read with `ast` from every ``monitor/**/*.py``, without importing anything. Every
import statement counts, wherever it is: at module level, inside a function (a lazy import is still
a dependency, only a later one, and a cycle through it is still a cycle) and under
``if TYPE_CHECKING:`` (a dependency of the design, if not of the running code). ``from P import n``
is an edge to the module ``P.n`` when there is one, else to ``P``; relative imports are resolved
against the importing module's package. Importing ``P.m`` is an edge to ``P.m`` only, not to the
package ``P`` that Python also initialises on the way: otherwise every package whose ``__init__``
gathers its submodules' names would be a "cycle" with each of them, which says nothing about how
the code depends on itself (a submodule that imports a name from its own package's ``__init__`` is
an edge to the package, and is caught).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "monitor"

SQL = re.compile(r"SELECT |INSERT INTO|UPDATE |DELETE FROM")  # the grep, as it is written
SQL_HOMES = ("store/", "projections/")  # inside the package
WALL_CLOCK = re.compile(r"\b(?:datetime\.now|datetime\.utcnow|date\.today|time\.time)\(")
# Where the wall clock may be read directly: the clock itself, and the timestamps of printed log
# lines (as the logging module stamps its records with time.time(), whatever clock the service has).
WALL_CLOCK_READERS = ("clock.py", "service/logs.py", "alerts/targets.py")


def modules(package: Path) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, for its __init__)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ``known`` that the module ``name`` (at ``path``) imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.append(submodule if submodule in known else base)
    found = set()
    for target in targets:
        while target and target not in known:  # `import monitor.x.y` where y is a name: monitor.x
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    known = modules(package)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path that ends where it starts) through each strongly connected group of
    modules; empty when the graph is acyclic."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm (the package is small: recursion is fine)
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_shortest_cycle(graph, group) for group in groups]


def _shortest_cycle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:  # breadth first inside the group, back to the start
        following = []
        for node in frontier:
            for other in sorted(graph[node] & group):
                if other == start:
                    return paths[node] + [start]
                if other not in paths:
                    paths[other] = paths[node] + [other]
                    following.append(other)
        frontier = following
    raise AssertionError(f"no cycle through {sorted(group)}")  # a strongly connected group always has one


def sql_outside_its_homes(package: Path) -> list[str]:
    """``grep -rnE "SELECT |INSERT INTO|UPDATE |DELETE FROM"`` outside store/ and projections/."""
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).as_posix().startswith(SQL_HOMES):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if SQL.search(line):
                found.append(f"{path.relative_to(package.parent).as_posix()}:{number}: {line.strip()}")
    return found


def wall_clock_reads(package: Path) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).as_posix() in WALL_CLOCK_READERS:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if WALL_CLOCK.search(line.split("#")[0]):
                found.append(f"{path.relative_to(package.parent).as_posix()}:{number}: {line.strip()}")
    return found


def alerts_importing_collectors(graph: dict[str, set[str]], package: str = "monitor") -> list[str]:
    collectors = f"{package}.collectors"
    return sorted(f"{module} -> {target}" for module, targets in graph.items()
                  if module == f"{package}.alerts" or module.startswith(f"{package}.alerts.")
                  for target in targets if target == collectors or target.startswith(f"{collectors}."))


def root_importers(graph: dict[str, set[str]], package: str = "monitor") -> list[str]:
    """The modules importing the composition root other than the command line."""
    allowed = {f"{package}.cli", f"{package}.__main__"}
    return sorted(module for module, targets in graph.items() if f"{package}.daemon" in targets and module not in allowed)


# --- the rules, on the package --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(PACKAGE)


def test_the_graph_is_read_from_the_whole_package(graph):
    # A reader that silently found nothing would pass every rule below.
    assert {"monitor", "monitor.cli", "monitor.daemon", "monitor.store.log", "monitor.alerts.relay"} <= set(graph)
    assert "monitor.daemon" in graph["monitor.cli"]
    assert "monitor.store.chain" in graph["monitor.store.log"]


def test_there_is_no_import_cycle(graph):
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in found)


def test_no_module_under_alerts_imports_the_collectors(graph):
    wrong = alerts_importing_collectors(graph)
    assert not wrong, wrong


def test_only_the_command_line_imports_the_composition_root(graph):
    wrong = root_importers(graph)
    assert not wrong, f"monitor.daemon (the composition root) is imported by {wrong}"


def test_no_sql_outside_the_store_and_the_projections():
    found = sql_outside_its_homes(PACKAGE)
    assert not found, "\n".join(found)


# Where an alert is read, it is read by attribute (monitor/alerts/alert.py decodes the stored JSON
# once): no `x.get("key")` and no `x["key"]` in these modules, except on the receivers named, which
# are not alerts (the relay's incident rows come from the incidents projection).
ATTRIBUTE_READERS = {"alerts/render.py": (), "alerts/relay.py": ("row", "item")}


def string_key_reads(path: Path, allowed: tuple[str, ...] = ()) -> list[str]:
    """Every ``x.get("literal", ...)`` call and ``x["literal"]`` read in the module at ``path``,
    as "line: source", unless ``x`` is a plain name in ``allowed``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            receiver = node.func.value
        elif (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
              and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
            receiver = node.value
        else:
            continue
        if not (isinstance(receiver, ast.Name) and receiver.id in allowed):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return sorted(found, key=lambda line: int(line.partition(":")[0]))


@pytest.mark.parametrize("module", sorted(ATTRIBUTE_READERS))
def test_alerts_are_read_by_attribute_not_by_key(module):
    found = string_key_reads(PACKAGE / module, ATTRIBUTE_READERS[module])
    assert not found, f"monitor/{module} reads by string key (read the typed Alert's attributes):\n" + "\n".join(found)


def test_time_comes_from_the_injected_clock():
    """Everything that stamps, schedules or dates takes the time from a clock it is given
    (monitor/clock.py's system_clock by default); durations use monotonic timers."""
    found = wall_clock_reads(PACKAGE)
    assert not found, "\n".join(found)


# --- the checks themselves, on packages made to break them ---------------------------------------------


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


def test_a_cycle_through_a_lazy_relative_import_is_found_and_named(tmp_path):
    package = write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.sub import b\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "def f():\n    from ..c import thing\n",
        "pkg/c.py": "import pkg.a\n",
        "pkg/d.py": "from . import c\n",  # into the cycle, not part of it
    })
    assert cycles(import_graph(package)) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]


def test_type_checking_imports_count_and_package_initialisation_does_not(tmp_path):
    package = write_package(tmp_path, {
        "pkg/__init__.py": "from pkg.log import Store\n",
        "pkg/log.py": "from pkg import chain\nfrom pkg.chain import link\n",  # a submodule: no cycle
        "pkg/chain.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.http import Server\n",
        "pkg/http.py": "from .chain import link\n",
    })
    graph = import_graph(package)
    assert graph["pkg.log"] == {"pkg.chain"} and graph["pkg"] == {"pkg.log"}
    assert cycles(graph) == [["pkg.chain", "pkg.http", "pkg.chain"]]
    # A name taken from the package's own __init__ is an edge to it, and a cycle.
    (package / "chain.py").write_text("from pkg import Store\n", encoding="utf-8")
    assert cycles(import_graph(package)) == [["pkg", "pkg.log", "pkg.chain", "pkg"]]


def test_the_import_rules_and_the_sql_grep_catch_a_breach(tmp_path):
    package = write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/daemon.py": "",
        "pkg/cli.py": "from pkg import daemon\n",
        "pkg/collectors/__init__.py": "",
        "pkg/collectors/backoff.py": "",
        "pkg/alerts/__init__.py": "",
        "pkg/alerts/relay.py": "def retry():\n    from ..collectors.backoff import delay\n    from pkg import daemon\n",
        "pkg/store/log.py": 'q = "SELECT seq FROM events"\n',
        "pkg/views.py": 'q = "DELETE FROM outbox"\nnow = datetime.now(timezone.utc)\n',
        "pkg/clock.py": "def system_clock():\n    return datetime.now(timezone.utc)\n",
    })
    graph = import_graph(package)
    assert alerts_importing_collectors(graph, "pkg") == ["pkg.alerts.relay -> pkg.collectors.backoff"]
    assert root_importers(graph, "pkg") == ["pkg.alerts.relay"]
    assert sql_outside_its_homes(package) == ['pkg/views.py:1: q = "DELETE FROM outbox"']
    assert wall_clock_reads(package) == ["pkg/views.py:2: now = datetime.now(timezone.utc)"]


def test_the_string_key_check_catches_a_read_by_key(tmp_path):
    module = tmp_path / "render.py"
    module.write_text(
        "def entry(alert, row, KINDS):\n"
        "    title = alert.get('title') or alert['url']\n"
        "    kind = KINDS.get(alert.kind)\n"  # a lookup by a value, not a read by key
        "    alert['seen'] = True\n"  # a write, not a read
        "    return row['id'], alert.group\n",
        encoding="utf-8")
    assert string_key_reads(module) == ["2: alert.get('title')", "2: alert['url']", "5: row['id']"]
    assert string_key_reads(module, ("row",)) == ["2: alert.get('title')", "2: alert['url']"]
