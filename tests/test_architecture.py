"""Dependencies point one way: the method knows nothing of llama.cpp, Qt or torch."""

from __future__ import annotations

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


FACES = ("esmc_desktop.cli", "esmc_desktop.gui")
BELOW_THE_APPLICATION = ("esmc_desktop.engine", "esmc_desktop.photos.export", "esmc_desktop.saved_result",
                         "esmc_desktop.mllm.runtime")


def test_the_cli_and_the_window_go_through_the_application_layer_only():
    graph = _imports()
    faces = {m: deps for m, deps in graph.items() if m.startswith(tuple(f + "." for f in FACES)) or m in FACES}
    assert "esmc_desktop.gui.main_window" in faces
    for face in ("esmc_desktop.cli.commands", "esmc_desktop.gui.main_window"):
        assert any(d.startswith("esmc_desktop.app.") for d in faces[face]), face
    wrong = {m: sorted(d for d in deps if d.startswith(BELOW_THE_APPLICATION)) for m, deps in faces.items()}
    assert {m: d for m, d in wrong.items() if d} == {}


def test_the_engine_sits_below_the_application_layer():
    """engine/ (model session, photo loop, clustering job) serves the use cases and never reaches up to them."""
    graph = _imports()
    engine = {m: deps for m, deps in graph.items() if m.startswith("esmc_desktop.engine")}
    assert "esmc_desktop.engine.session" in engine and "esmc_desktop.engine.photo_loop" in engine
    above = ("esmc_desktop.app", "esmc_desktop.cli", "esmc_desktop.gui", "esmc_desktop.demo",
             "esmc_desktop.benchmark")
    wrong = {m: sorted(d for d in deps if d.startswith(above)) for m, deps in engine.items()}
    assert {m: d for m, d in wrong.items() if d} == {}
