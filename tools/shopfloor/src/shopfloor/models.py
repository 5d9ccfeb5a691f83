"""The base of the models that read the repository's hand-written sources (observability/slos.yaml,
the Alertmanager routing, chaos/faults.yaml): a misspelt or unknown key is an error naming it, not
a setting silently ignored, and what was read is not changed afterwards."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
