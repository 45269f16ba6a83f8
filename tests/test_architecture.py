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
