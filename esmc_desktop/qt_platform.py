"""Can the window start here? The system libraries Qt's Linux (X11) platform plugin loads, checked before Qt is.

Without one of them Qt aborts with its own message ("Could not load the Qt platform plugin
'xcb'...") that names no package. Debian and Ubuntu leave several out of a minimal or
server install (libxcb-cursor0 since Qt 6.5, the keysyms and icccm libraries), so the
launcher and `doctor` both ask here first and name the packages to install. No Qt import:
this runs where Qt cannot.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Iterable

# (shared library, Debian/Ubuntu package): what PySide6 6.11's libqxcb.so, libQt6XcbQpa.so and libQt6Gui.so
# link beyond Qt itself and the C/C++ runtime (objdump -p ... | grep NEEDED).
XCB_LIBRARIES: tuple[tuple[str, str], ...] = (
    ("libxcb.so.1", "libxcb1"),
    ("libX11.so.6", "libx11-6"),
    ("libX11-xcb.so.1", "libx11-xcb1"),
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-image.so.0", "libxcb-image0"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("libxcb-randr.so.0", "libxcb-randr0"),
    ("libxcb-render.so.0", "libxcb-render0"),
    ("libxcb-render-util.so.0", "libxcb-render-util0"),
    ("libxcb-shape.so.0", "libxcb-shape0"),
    ("libxcb-shm.so.0", "libxcb-shm0"),
    ("libxcb-sync.so.1", "libxcb-sync1"),
    ("libxcb-util.so.1", "libxcb-util1"),
    ("libxcb-xfixes.so.0", "libxcb-xfixes0"),
    ("libxcb-xkb.so.1", "libxcb-xkb1"),
    ("libxkbcommon.so.0", "libxkbcommon0"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libfontconfig.so.1", "libfontconfig1"),
    ("libfreetype.so.6", "libfreetype6"),
    ("libglib-2.0.so.0", "libglib2.0-0"),
    ("libEGL.so.1", "libegl1"),
    ("libGL.so.1", "libgl1"),
)


def missing_libraries(libraries: Iterable[tuple[str, str]] = XCB_LIBRARIES) -> list[tuple[str, str]]:
    """The (library, package) pairs the dynamic loader cannot find, in the order given."""
    missing = []
    for library, package in libraries:
        try:
            ctypes.CDLL(library)
        except OSError:
            missing.append((library, package))
    return missing


def uses_x11(environ: dict[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether Qt will start on its X11 (xcb) plugin: on Linux, unless another platform is asked for or Wayland runs."""
    environ = os.environ if environ is None else environ
    if not (platform or sys.platform).startswith("linux"):
        return False
    asked = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if asked:
        return asked == "xcb"
    return not environ.get("WAYLAND_DISPLAY")  # Qt 6 prefers Wayland there and only falls back to xcb


def advice(missing: list[tuple[str, str]]) -> str:
    """One sentence that says what to install."""
    libraries = ", ".join(library for library, _ in missing)
    packages = " ".join(package for _, package in missing)
    return (f"the window needs system libraries that are not installed ({libraries}); on Debian or Ubuntu install "
            f"them with: sudo apt install {packages} (other systems: the packages that provide these files).")


def window_problem(environ: dict[str, str] | None = None,
                   libraries: Iterable[tuple[str, str]] = XCB_LIBRARIES) -> str | None:
    """Why the window cannot start on this display, in a sentence; None when nothing is missing."""
    if not uses_x11(environ):
        return None
    missing = missing_libraries(libraries)
    return advice(missing) if missing else None


def doctor_line(libraries: Iterable[tuple[str, str]] = XCB_LIBRARIES) -> str:
    """The window's line in `doctor`: ready, or which packages to install (Linux/X11 only)."""
    if not sys.platform.startswith("linux"):
        return "window: Qt brings what it needs on this system"
    missing = missing_libraries(libraries)
    return f"window (X11): {advice(missing)}" if missing else "window (X11): the libraries Qt needs are installed"
