"""The PySide6 desktop window: widgets with one job each over the application layer (esmc_desktop.app)."""
