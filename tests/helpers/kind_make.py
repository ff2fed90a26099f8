"""What `make trigger` sends when given nothing: its DAG and CONF defaults, parsed from mk/kind.mk."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

KIND_MK = Path(__file__).resolve().parents[2] / "mk" / "kind.mk"


def trigger_defaults() -> tuple[str, dict[str, Any]]:
    """(DAG, CONF) of mk/kind.mk's `DAG ?=` and `CONF ?=`."""
    text = KIND_MK.read_text()
    dag = re.search(r"^DAG \?= (\S+)$", text, re.MULTILINE)
    conf = re.search(r"^CONF \?= (.+)$", text, re.MULTILINE)
    assert dag and conf, "mk/kind.mk defines no `DAG ?=` / `CONF ?=` default"
    return dag.group(1), json.loads(conf.group(1))
