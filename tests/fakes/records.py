"""Plain records for tests of pure code (renderers): a job and a version with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime

from core.types import FailureCode, JobKind, JobRecord, JobStatus, VersionRecord

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def make_job(**overrides: object) -> JobRecord:
    values: dict[str, object] = {
        "id": "k7m2q9xw4t",
        "bot_id": 4242,
        "user_id": 1,
        "script_id": 1,
        "kind": "generate",
        "parent_version_id": None,
        "feedback_id": None,
        "request_key": "msg:1:1",
        "status": "queued",
        "attempts": 0,
        "available_at": NOW,
        "lease_expires_at": None,
        "worker_id": None,
        "stage": "queued",
        "error": None,
        "chat_id": 1,
        "ack_message_id": None,
        "ack_status": None,
        "created_at": NOW,
        "started_at": None,
        "finished_at": None,
        "updated_at": NOW,
    }
    values.update(overrides)
    values["kind"] = JobKind(values["kind"])
    values["status"] = JobStatus(values["status"])
    values["error"] = FailureCode(values["error"]) if values["error"] is not None else None
    return JobRecord(**values)  # type: ignore[arg-type]


def make_version(storyboard_json: str, **overrides: object) -> VersionRecord:
    values: dict[str, object] = {
        "id": 5,
        "job_id": "k7m2q9xw4t",
        "script_id": 1,
        "version": 1,
        "storyboard_json": storyboard_json,
        "generation_method": "local",
        "title": "t",
        "scene_count": 1,
        "total_duration_s": 3.0,
        "pipeline_ms": 12,
        "created_at": NOW,
    }
    values.update(overrides)
    return VersionRecord(**values)  # type: ignore[arg-type]
