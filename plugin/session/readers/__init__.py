"""One module per session format; each exposes `read(path: Path) -> Session`."""
