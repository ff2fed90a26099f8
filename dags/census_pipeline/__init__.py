"""Operators and params shared by the census pipeline DAGs (not a DAG file: see ../.airflowignore)."""
