"""The export modes by name: light, so the command line's --help lists them without loading the exporters."""

from __future__ import annotations

TAG_MODES = ("tags", "tags-embedded")  # keywords in XMP sidecars, or inside JPEG files (photos/tags.py)
MODES = ("copy", "hardlink", "symlink", "move", *TAG_MODES)
EXPORTING = "exporting"  # the export's stage in its Progress reports
