"""The Airflow environment a deployment gives the DAGs (AIRFLOW_VAR_*, AIRFLOW_CONN_*), parsed.

    values_env("kind")      # env of helm/airflow/values.yaml + values-kind.yaml, as Helm merges them
    skaffold_env("gke")     # ... plus what `skaffold run -p gke` sets on top (needs helm_python)

`python -m tests.helpers.airflow_env PROFILE [--skaffold]` prints it as JSON, so the DAG tier
(whose venv has no helm_python) can ask the project venv for the skaffold view.
"""

from __future__ import annotations

import json
import sys

from tests.helpers.airflow_release import user_values


def values_env(profile: str) -> dict[str, str]:
    return {e["name"]: str(e.get("value", "")) for e in user_values(profile)["env"]}


def skaffold_env(profile: str) -> dict[str, str]:
    from tests.helpers.skaffold_config import MAIN, effective, load_configs, release_values

    values = release_values(effective(load_configs()[MAIN], [profile]), "airflow", profile)
    return {e["name"]: str(e.get("value", "")) for e in values["env"]}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("kind", "gke"):
        print("usage: python -m tests.helpers.airflow_env kind|gke [--skaffold]", file=sys.stderr)
        return 2
    env = skaffold_env(argv[0]) if "--skaffold" in argv[1:] else values_env(argv[0])
    print(json.dumps(env))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
