from preprocessor.cli import entrypoint

raise SystemExit(entrypoint())
