"""The boundaries between the parts, as docs/architecture.md's table of allowed imports states them.

The table is the rule and this test its enforcement, three ways:

- in a fresh interpreter per package, every import statement executed while
  the package's modules load is recorded with the module that ran it, so
  what really gets imported is checked (and, for the Django-free packages,
  that no Django, DRF or Celery came along even indirectly);
- every import statement in the code is read, including those inside
  functions, which load only when called;
- every model relation is followed: a string foreign key imports nothing
  yet ties two apps together.

Migrations are history (they name the apps models once belonged to) and are left out.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
FRAMEWORKS = ("django", "rest_framework", "celery", "drf_spectacular", "storages")


def allowed_imports() -> tuple[dict[str, set[str]], dict[str, set[str]], set[str]]:
    """The table under "## Allowed imports": {package: packages it may import}, {package: parts of those it may
    not ("`catalog` except `catalog.ingest`; ..."), and the Django-free packages."""
    text = ARCHITECTURE.read_text()
    section = text[text.index("## Allowed imports"):]
    section = section[: section.index("\n## ", 3)] if "\n## " in section[3:] else section
    rules, exceptions, django_free = {}, {}, set()
    for row in re.findall(r"^\| `([\w.]+)` \| (.*?) \| (yes|no) \|$", section, re.M):
        package, allowed, free = row
        rules[package], exceptions[package] = set(), set()
        for part in allowed.split(";"):
            names, _, excepted = part.partition(" except ")
            rules[package] |= set(re.findall(r"`([\w.]+)`", names))
            exceptions[package] |= set(re.findall(r"`([\w.]+)`", excepted))
        if free == "yes":
            django_free.add(package)
    return rules, exceptions, django_free


RULES, EXCEPTIONS, DJANGO_FREE = allowed_imports()
PACKAGES = sorted(RULES, key=lambda name: (-name.count("."), name))  # training.core before training


def package_of(module: str) -> str | None:
    """The project package a module belongs to (the most specific one), or None for a library."""
    for package in PACKAGES:
        if module == package or module.startswith(package + "."):
            return package
    return None


def forbidden(importer: str, imported: str) -> bool:
    source, target = package_of(importer), package_of(imported)
    if source is None or target is None or target == source:
        return False
    excepted = any(imported == part or imported.startswith(part + ".") for part in EXCEPTIONS[source])
    return target not in RULES[source] or excepted


def test_the_table_names_every_package_of_the_project():
    top_level = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert top_level <= set(RULES), f"packages missing from docs/architecture.md: {sorted(top_level - set(RULES))}"
    assert {"emotic", "training.core"} <= DJANGO_FREE
    for package, allowed in RULES.items():
        assert allowed <= set(RULES), f"{package} may import unknown packages: {sorted(allowed - set(RULES))}"


RECORD_IMPORTS = r"""
import builtins, importlib, importlib.util, json, os, pkgutil, sys
package, django_free = sys.argv[1], sys.argv[2] == "yes"
edges, real_import = {}, builtins.__import__

def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
    module = real_import(name, globals, locals, fromlist, level)
    importer = (globals or {}).get("__name__", "")
    target = importlib.util.resolve_name("." * level + name, (globals or {}).get("__package__") or "") if level else name
    found = edges.setdefault(importer, set())
    found.add(target)
    found.update(f"{target}.{item}" for item in (fromlist or ()) if item != "*")
    return module

builtins.__import__ = recording_import
if not django_free:
    import django
    django.setup()
root = importlib.import_module(package)
for info in pkgutil.walk_packages(root.__path__, package + ".", onerror=lambda name: (_ for _ in ()).throw(ImportError(name))):
    # Migrations are history; settings modules are chosen by DJANGO_SETTINGS_MODULE, not imported side by side.
    if ".migrations" not in info.name and not info.name.endswith("__main__") and not info.name.startswith("config.settings."):
        importlib.import_module(info.name)
mine = {k: sorted(v) for k, v in edges.items() if k == package or k.startswith(package + ".")}
print(json.dumps({"edges": mine, "modules": sorted(sys.modules)}))
"""


@pytest.mark.parametrize("package", sorted(RULES))
def test_in_a_fresh_interpreter_the_package_imports_only_what_it_may(package):
    free = package in DJANGO_FREE
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    if not free:
        env["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
        # config.wsgi and config.asgi serve the development key only in explicit local development.
        env.update({"DEBUG": "true", "ALLOWED_HOSTS": "localhost,127.0.0.1,[::1]"})
    done = subprocess.run([sys.executable, "-c", RECORD_IMPORTS, package, "yes" if free else "no"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"importing {package} failed:\n{done.stderr[-3000:]}"
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["edges"], f"no import of {package} was recorded: the recorder is broken"
    crossing = sorted(
        f"{importer} imports {target}"
        for importer, targets in found["edges"].items()
        for target in targets
        if package_of(importer) == package and forbidden(importer, target)
    )
    assert crossing == [], f"{package} imports what docs/architecture.md does not allow:\n" + "\n".join(crossing)
    if free:
        leaked = sorted({module.split(".")[0] for module in found["modules"]} & set(FRAMEWORKS))
        assert leaked == [], f"importing {package} brought in {', '.join(leaked)}"


def python_files(package: str):
    folder = ROOT.joinpath(*package.split("."))
    for path in sorted(folder.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if ".migrations" not in module and package_of(module.removesuffix(".__init__")) == package:
            yield path, module.removesuffix(".__init__")


def imports_in(path: Path, module: str):
    """(line, imported name) of every import statement, at any depth; relative imports resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module", "__import__"
        ):
            yield node.lineno, "<dynamic import>"


@pytest.mark.parametrize("package", sorted(RULES))
def test_no_import_statement_anywhere_crosses_a_boundary(package):
    crossing, dynamic = [], []
    for path, module in python_files(package):
        for line, target in imports_in(path, module):
            where = f"{path.relative_to(ROOT)}:{line}"
            if target == "<dynamic import>":
                dynamic.append(where)
            elif forbidden(module, target):
                crossing.append(f"{where} imports {target}")
            elif package in DJANGO_FREE and target.split(".")[0] in FRAMEWORKS:
                crossing.append(f"{where} imports {target} (a Django-free package)")
    assert crossing == [], f"{package} imports what docs/architecture.md does not allow:\n" + "\n".join(crossing)
    # A dynamic import would slip past both checks; the project has none, and keeps it so.
    assert dynamic == [], f"dynamic imports in {package}: {dynamic}"


def test_no_model_relation_crosses_a_boundary():
    crossing = []
    for model in apps.get_models():
        source = package_of(model.__module__)
        if source is None:
            continue  # Django's own apps
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete and field.related_model is not None:
                target = package_of(field.related_model.__module__)
                if target is not None and target != source and target not in RULES[source]:
                    crossing.append(f"{model._meta.label}.{field.name} -> {field.related_model._meta.label}")
    assert crossing == [], "relations docs/architecture.md does not allow:\n" + "\n".join(crossing)


def test_the_checks_catch_what_they_guard(tmp_path):
    # The rule itself: the arrows the design forbids are forbidden.
    assert forbidden("annotator.services.x", "scraper.models")  # annotation knows nothing of where images came from
    assert forbidden("annotator.views", "emotic_export.models") and forbidden("annotator.api", "training.models")
    assert forbidden("quality.views", "training.predictions")  # the model reaches review as a panel
    assert forbidden("scraper.services.pipeline", "emotic_export.services")  # ingest knows nothing of exports
    assert forbidden("catalog.ingest", "annotator.models") and forbidden("emotic.boxes", "catalog.models")
    # Annotation may use the library's images, but not know where they came from.
    assert not forbidden("annotator.models", "catalog.models.Image") and not forbidden("annotator.api", "catalog.renditions")
    assert forbidden("annotator.services.x", "catalog.models.Source") and forbidden("annotator.views", "catalog.ingest")
    assert forbidden("training.core.loop", "training.models")
    assert not forbidden("training.services", "training.core.loop") and not forbidden("demo.loader", "scraper.models")
    # A lazy import inside a function is seen by the statement check.
    sample = tmp_path / "views.py"
    sample.write_text("def page():\n    from training.predictions import usable_runs\n    return usable_runs\n")
    assert [target for _, target in imports_in(sample, "quality.views") if forbidden("quality.views", target)] == [
        "training.predictions", "training.predictions.usable_runs"]


def test_only_the_split_service_writes_an_images_split():
    """``catalog/splits.py`` is the one writer of ``Image.split`` (and ``split_locked``): no other code sets them."""
    writers = []
    for package in RULES:
        for path, _module in python_files(package):
            if path == ROOT / "catalog" / "splits.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                keywords = node.keywords if isinstance(node, ast.Call) else []
                names = [kw.arg for kw in keywords if kw.arg in ("split", "split_locked")]
                called = getattr(node.func, "attr", getattr(node.func, "id", "")) if isinstance(node, ast.Call) else ""
                if names and called in ("update", "Image", "create", "update_or_create", "get_or_create"):
                    writers.append(f"{path.relative_to(ROOT)}:{node.lineno} {called}({', '.join(names)}=...)")
                if isinstance(node, (ast.Assign, ast.AugAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for target in targets:
                        for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                            if isinstance(element, ast.Attribute) and element.attr in ("split", "split_locked"):
                                writers.append(f"{path.relative_to(ROOT)}:{node.lineno} .{element.attr} = ...")
    assert writers == [], "an image's split written outside catalog/splits.py:\n" + "\n".join(writers)


def module_graph() -> dict[str, set[str]]:
    """Every project module (migrations left out) -> the project modules it imports, at any depth."""
    modules = {module: path for package in RULES for path, module in python_files(package)}
    graph: dict[str, set[str]] = {module: set() for module in modules}
    for module, path in modules.items():
        for _, target in imports_in(path, module):
            while target and target not in modules:  # "pkg.module.Name" -> "pkg.module"
                target = target.rpartition(".")[0]
            if target and target != module:
                graph[module].add(target)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iteratively)."""
    index, low, on_stack, stack, cycles, counter = {}, {}, set(), [], [], 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
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
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles


def test_no_two_modules_import_each_other():
    # The one pattern allowed: an app's services queue its own tasks (imported inside the function), and the
    # tasks wrap those services.
    allowed = {tuple(sorted((f"{app}.services", f"{app}.tasks"))) for app in ("quality", "emotic_export", "training")}
    allowed.add(("scraper.services.jobs", "scraper.tasks"))
    cycles = [cycle for cycle in import_cycles(module_graph()) if tuple(cycle) not in allowed]
    assert cycles == [], "modules that import each other (directly or around a circle):\n" + "\n".join(map(str, cycles))


def test_the_cycle_finder_finds_a_circle_of_three():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


WRITE_METHODS = {"create", "get_or_create", "update_or_create", "bulk_create", "bulk_update", "update", "delete", "save"}
# Documented exceptions (docs/architecture.md): the image's place in the annotation workflow lives on the
# catalog's image row and only the annotator writes it; quality keeps its per-worker figures on the worker's row.
CROSS_APP_WRITES = {
    ("annotator", "Image"): {"boxes_confirmed", "box_slots_taken", "box_annotators_pinned", "reported_count"},
    ("quality", "Worker"): None,  # the figures of quality.stored_figures.WORKER_FIGURES, by bulk_update
}
SEEDERS = {"demo", "config"}  # they set the platform up, like a shell session would


def test_an_apps_rows_are_written_by_that_app_alone():
    """Through the ORM: ``Model.objects...update(...)`` and the like on another app's model (instance saves aside)."""
    writes = []
    for package in RULES:
        app = package.split(".")[0]
        if app in SEEDERS:
            continue
        for path, _module in python_files(package):
            tree = ast.parse(path.read_text(), str(path))
            foreign = {
                alias.asname or alias.name: node.module.split(".")[0]
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and (node.module or "").endswith(".models")
                and node.module.split(".")[0] in RULES and node.module.split(".")[0] != app
                for alias in node.names
            }
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITE_METHODS):
                    continue
                root = node.func.value
                while isinstance(root, (ast.Attribute, ast.Call)):
                    root = root.func if isinstance(root, ast.Call) else root.value
                if not (isinstance(root, ast.Name) and root.id in foreign):
                    continue
                allowed = CROSS_APP_WRITES.get((app, root.id), ())
                fields = {keyword.arg for keyword in node.keywords}
                if allowed is None or (allowed and fields and fields <= allowed):
                    continue
                writes.append(f"{path.relative_to(ROOT)}:{node.lineno} {root.id}...{node.func.attr}({', '.join(sorted(f for f in fields if f))})")
    assert writes == [], "rows written by an app that does not own them:\n" + "\n".join(writes)
