"""Dependencies point one way: the method knows nothing of llama.cpp, Qt or torch."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_method_imports_no_runtime_gui_or_training_framework():
    modules = sorted(p.stem for p in (REPO / "esmc_desktop" / "method").glob("*.py") if p.stem != "__init__")
    code = ("import sys\n" + "".join(f"import esmc_desktop.method.{m}\n" for m in modules) +
            "print(' '.join(sorted(m for m in ('llama_cpp', 'PySide6', 'torch', 'transformers') if m in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def _imports() -> dict[str, set[str]]:
    """Every package module and the package modules it imports anywhere (top level or inside a function)."""
    import ast

    root = REPO / "esmc_desktop"
    names = {".".join(("esmc_desktop",) + p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
             for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in names else node.module
                          for a in node.names}
        graph[name] = {m for m in found if m in names and m != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_of_the_package_imports_itself_through_others():
    graph = _imports()
    assert len(graph) > 40 and "esmc_desktop.mllm.gguf_files" in graph["esmc_desktop.mllm.legacy_mmproj"]
    assert _cycles(graph) == []


# What each face may import: the application layer, the error family, its own modules; the command line also
# the window's launcher (`esmc-desktop gui`). Nothing else: no model registry, no GPU advice, no photo module.
FACES = {"esmc_desktop.cli": ("esmc_desktop.app", "esmc_desktop.errors", "esmc_desktop.cli", "esmc_desktop.gui.app"),
         "esmc_desktop.gui": ("esmc_desktop.app", "esmc_desktop.errors", "esmc_desktop.gui")}


def _within(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _face(module: str) -> str | None:
    return next((f for f in FACES if _within(module, (f,))), None)


def test_the_cli_and_the_window_reach_only_the_application_layer_through_any_of_their_modules():
    """Walk the imports from every module of a face through the faces' own modules: the first module met that
    is not a face's must be the application layer or the error family (an import-linter 'layers' contract)."""
    graph = _imports()
    assert "esmc_desktop.gui.main_window" in graph and "esmc_desktop.cli.commands" in graph
    for face in ("esmc_desktop.cli.commands", "esmc_desktop.gui.main_window"):
        assert any(d.startswith("esmc_desktop.app.") for d in graph[face]), face
    wrong: dict[str, list[str]] = {}
    for start in (m for m in graph if _face(m)):
        seen, todo = {start}, [start]
        while todo:
            module = todo.pop()
            for dep in graph[module]:
                if not _within(dep, FACES[_face(module)]):
                    wrong.setdefault(module, []).append(dep)
                elif _face(dep) and dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
    assert wrong == {}


def test_nothing_below_a_face_imports_a_face_and_nothing_below_the_application_layer_imports_it():
    graph = _imports()
    up = {m: sorted(d for d in deps if _face(d) or (not _within(m, ("esmc_desktop.app",)) and
                                                     _within(d, ("esmc_desktop.app",))))
          for m, deps in graph.items() if not _face(m)}
    assert {m: d for m, d in up.items() if d} == {}


def _rooms() -> set[tuple[str, str]]:
    """The package's rooms (its subpackages and top-level modules) and which imports which."""
    room = lambda m: m.split(".")[1] if m.count(".") else None  # noqa: E731 (the root holds only the version)
    return {(room(m), room(d)) for m, deps in _imports().items() for d in deps
            if room(m) and room(d) and room(m) != room(d)}


def test_the_drawing_in_docs_architecture_has_exactly_the_imports_of_the_code():
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    drawing = text.split("```mermaid", 1)[1].split("```", 1)[0]
    drawn = set(re.findall(r"^\s*(\w+)\s*-->\s*(\w+)\s*$", drawing, re.MULTILINE))
    code = _rooms()
    assert ("cli", "app") in code and ("app", "method") in code
    missing = "".join(f"\n    {a} --> {b}" for a, b in sorted(code - drawn))
    extra = "".join(f"\n    {a} --> {b}" for a, b in sorted(drawn - code))
    assert not missing and not extra, f"docs/architecture.md: draw{missing or ' nothing more'}; remove{extra or ' nothing'}"


def test_the_engine_sits_below_the_application_layer():
    """engine/ (model session, photo loop, clustering job) serves the use cases and never reaches up to them."""
    graph = _imports()
    engine = {m: deps for m, deps in graph.items() if m.startswith("esmc_desktop.engine")}
    assert "esmc_desktop.engine.session" in engine and "esmc_desktop.engine.photo_loop" in engine
    above = ("esmc_desktop.app", "esmc_desktop.cli", "esmc_desktop.gui", "esmc_desktop.demo",
             "esmc_desktop.bench")
    wrong = {m: sorted(d for d in deps if d.startswith(above)) for m, deps in engine.items()}
    assert {m: d for m, d in wrong.items() if d} == {}
