"""The application layer: the use cases the CLI and the window both call (checks first)."""
