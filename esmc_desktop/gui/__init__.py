"""The PySide6 desktop app: a window over the pipeline; long work runs in a worker thread."""
