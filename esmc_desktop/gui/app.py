"""`esmc-desktop gui`: start the window on a model pair, with the settings the user left it with."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from esmc_desktop.gui.log_file import log_to_file
from esmc_desktop.app.options import GpuLayers
from esmc_desktop.app.sort import ComputeRequest, MethodSettings

log = logging.getLogger("esmc_desktop.gui")


def settle_startup() -> None:
    """Load llama.cpp now, then move every object that lives as long as the process out of the collector's way.

    Python's full garbage collection walks every tracked object, and it stops all threads, the
    GUI's too: with numpy, scikit-learn, Qt and llama.cpp loaded that was about 120 ms each time
    a large sort allocated enough to trigger one (benchmarks/gui_responsiveness.py). Objects from
    module imports live until exit, so `gc.freeze` takes them out of every later collection.
    """
    import gc

    import llama_cpp  # noqa: F401 (imported here, not in the first run's worker, where it held the interpreter)

    gc.collect()
    gc.freeze()


def run_gui(lm: Path, mmproj: Path, settings: MethodSettings, compute: ComputeRequest,
            cache_dir: Path | None = None, remembered_model: bool = True, gpu_layers: GpuLayers | None = None,
            template: str | None = None) -> int:
    """`remembered_model`: prefer the pair last chosen in the window (QSettings) when it still checks out.

    `gpu_layers`, `template` and `compute.threads` as given on the command line win over the remembered ones.
    """
    from dataclasses import replace

    from esmc_desktop.errors import EsmcError
    from esmc_desktop.app.doctor import window_problem

    problem = window_problem()
    if problem:  # Qt would abort with a message that names no package
        raise EsmcError(problem)

    from PySide6.QtWidgets import QApplication, QMessageBox

    from esmc_desktop.app.checks import model_files
    from esmc_desktop.gui.main_window import MainWindow
    from esmc_desktop.gui.preferences import Preferences

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("esmc-desktop")
    app.setApplicationName("ESMC Desktop")
    log_file = log_to_file()
    prefs = Preferences()
    saved = prefs.model()
    if remembered_model and saved is not None:
        try:
            model_files(*saved)
            lm, mmproj = saved
        except (EsmcError, OSError, ValueError):
            pass  # moved or deleted since: the default pair it is
    settings = replace(settings, template=template or prefs.template())
    settle_startup()
    window = MainWindow(lm, mmproj, settings=settings, compute=prefs.compute(compute, gpu_layers), cache_dir=cache_dir)

    def show_error(kind, error, trace) -> None:
        log.error("unexpected error", exc_info=(kind, error, trace))
        QMessageBox.warning(window, "ESMC Desktop", f"Something went wrong ({kind.__name__}: {error}). "
                            f"The window goes on; the details are in {log_file}.")

    sys.excepthook = show_error
    window.show()
    return app.exec()
