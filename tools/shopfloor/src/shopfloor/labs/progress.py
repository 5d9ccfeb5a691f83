"""A learner's progress: var/labs/progress.json, written atomically (a temporary file renamed over
it), so an interrupted command never leaves half a file.

Per lab, the current attempt (started, hints shown, diagnosis attempts, when diagnosed and solved)
and the best score of the attempts solved. Scoring (docs/labs.md, "Assessment"):

    score = 100 - the cost of every hint shown - 10 per wrong diagnosis (at least 0)

A lab counts as done when `verify` passes, which needs the right diagnosis (`answer`) too.
Time to diagnose = the right answer's time - the start; time to fix = the verify pass - the start.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shopfloor.labs.model import MAX_POINTS, labs_root

PROGRESS_FILE = "progress.json"  # in labs_root: var/labs/progress.json
WRONG_ANSWER_COST = 10


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Attempt:
    started_at: str
    hints_shown: int = 0
    hint_points: int = 0
    wrong_answers: int = 0
    diagnosed_at: str | None = None
    solved_at: str | None = None
    answers: list[dict[str, str]] = field(default_factory=list)

    @property
    def score(self) -> int:
        return max(0, MAX_POINTS - self.hint_points - WRONG_ANSWER_COST * self.wrong_answers)

    def seconds_to(self, when: str | None) -> float | None:
        if when is None:
            return None
        return (datetime.fromisoformat(when) - datetime.fromisoformat(self.started_at)).total_seconds()


@dataclass
class LabProgress:
    attempt: Attempt | None = None
    best_score: int | None = None
    solved_attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.best_score is not None


class Progress:
    def __init__(self, repo: Path, labs: dict[str, LabProgress] | None = None) -> None:
        self.repo = repo
        self.labs = labs or {}

    @property
    def path(self) -> Path:
        return labs_root(self.repo) / PROGRESS_FILE

    @classmethod
    def load(cls, repo: Path) -> Progress:
        path = labs_root(repo) / PROGRESS_FILE
        if not path.exists():
            return cls(repo)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            labs = {}
            for lab_id, entry in data.get("labs", {}).items():
                attempt = Attempt(**entry["attempt"]) if entry.get("attempt") else None
                labs[lab_id] = LabProgress(attempt, entry.get("best_score"), entry.get("solved_attempts", []))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(
                f"{path}: not a progress file this tool wrote ({exc}); move it away to start afresh"
            ) from None
        return cls(repo, labs)

    def save(self) -> None:
        data = {
            "version": 1,
            "labs": {
                lab_id: {
                    "attempt": asdict(entry.attempt) if entry.attempt else None,
                    "best_score": entry.best_score,
                    "solved_attempts": entry.solved_attempts,
                }
                for lab_id, entry in sorted(self.labs.items())
            },
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=".progress-", dir=self.path.parent)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def entry(self, lab_id: str) -> LabProgress:
        return self.labs.setdefault(lab_id, LabProgress())

    def start(self, lab_id: str) -> Attempt:
        entry = self.entry(lab_id)
        entry.attempt = Attempt(started_at=now())
        return entry.attempt

    def attempt(self, lab_id: str) -> Attempt:
        """The current attempt; ValueError when the lab was never started."""
        entry = self.labs.get(lab_id)
        if entry is None or entry.attempt is None:
            raise ValueError(f"lab {lab_id} has not been started: `shopfloor lab start {lab_id}`")
        return entry.attempt

    def solved(self, lab_id: str) -> Attempt:
        entry = self.entry(lab_id)
        attempt = self.attempt(lab_id)
        if attempt.solved_at is None:
            attempt.solved_at = now()
            entry.solved_attempts.append(
                {
                    "started_at": attempt.started_at,
                    "score": attempt.score,
                    "hints_shown": attempt.hints_shown,
                    "wrong_answers": attempt.wrong_answers,
                    "seconds_to_diagnose": attempt.seconds_to(attempt.diagnosed_at),
                    "seconds_to_fix": attempt.seconds_to(attempt.solved_at),
                }
            )
            entry.best_score = max(entry.best_score or 0, attempt.score)
        return attempt
