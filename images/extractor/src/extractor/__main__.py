from extractor.cli import entrypoint

raise SystemExit(entrypoint())
