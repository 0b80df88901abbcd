"""Settings, one class per concern, read from the environment once at start (never at import)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_ENV = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)


def parse_id_list(value: object) -> object:
    """``"1, 2,3"`` -> ``frozenset({1, 2, 3})``; an empty string means none."""
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",")]
        return frozenset(int(part) for part in parts if part)
    return value


class StorageSettings(BaseSettings):
    model_config = _ENV

    database_url: str | None = None
    data_dir: Path = Path("data")
    # Handled updates are deleted after this; at least a day, the longest Telegram may send one again.
    inbox_retention_days: float = Field(default=7.0, ge=1)

    def resolved_database_url(self) -> str:
        """``DATABASE_URL``, or a SQLite file in ``DATA_DIR`` (created when missing)."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'bhiv-bot.db').resolve()}"


class LMSettings(BaseSettings):
    model_config = _ENV

    lm_base_url: str | None = None
    lm_api_key: SecretStr | None = None
    lm_model: str = "gpt-4o-mini"
    lm_connect_timeout_s: float = Field(default=5.0, gt=0)
    lm_timeout_s: float = Field(default=30.0, gt=0)
    lm_max_attempts: int = Field(default=5, ge=1, le=10)
    lm_backoff_min_s: float = Field(default=1.0, ge=0)
    lm_backoff_max_s: float = Field(default=30.0, ge=0)
    lm_retry_after_cap_s: float = Field(default=30.0, ge=0)
    lm_job_deadline_s: float = Field(default=90.0, gt=0)
    lm_max_tokens: int = Field(default=8192, ge=256)  # asked for in each request: a reply's length has a ceiling
    lm_max_reply_bytes: int = Field(default=2_000_000, ge=10_000)  # an answer longer than this is not read

    @property
    def configured(self) -> bool:
        return bool(self.lm_base_url)


class JobSettings(BaseSettings):
    model_config = _ENV

    worker_concurrency: int = Field(default=4, ge=0, le=256)  # 0: this process runs no jobs
    job_lease_s: float = Field(default=60.0, gt=0)
    job_max_attempts: int = Field(default=3, ge=1)
    job_retry_backoff_s: float = Field(default=5.0, ge=0)
    job_poll_interval_s: float = Field(default=1.0, gt=0)
    # A `run` process's hold on the updates it stored and the messages it is sending: renewed every third of it,
    # taken over by another process when it runs out (at once on the same machine when the holder is dead).
    bot_lease_s: float = Field(default=15.0, ge=1)
    max_script_chars: int = Field(default=20_000, ge=1)
    max_scenes: int = Field(default=300, ge=1)
    max_active_jobs_per_user: int = Field(default=3, ge=1)
    max_jobs_per_hour: int = Field(default=30, ge=1)
    shutdown_grace_s: float = Field(default=8.0, ge=0)
    outbox_max_attempts: int = Field(default=12, ge=1)


TELEGRAM_UPLOAD_BYTES = 50 * 1024 * 1024  # the largest file the Bot API accepts from a bot


class RenderSettings(BaseSettings):
    model_config = _ENV

    render_video: bool = True  # each result carries a video of its storyboard
    render_processes: int = Field(default=1, ge=1, le=64)  # renders at once, each in a process of its own
    render_timeout_s: float = Field(default=120.0, gt=0)  # one video's limit; then the result goes without one
    render_max_memory_mb: int = Field(default=1024, ge=256)  # a render process's address space
    max_video_bytes: int = Field(default=TELEGRAM_UPLOAD_BYTES, ge=100_000, le=TELEGRAM_UPLOAD_BYTES)


class AccessSettings(BaseSettings):
    model_config = _ENV

    admin_user_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    allowed_user_ids: Annotated[frozenset[int] | None, NoDecode] = None

    @field_validator("admin_user_ids", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        return parse_id_list(value)

    @field_validator("allowed_user_ids", mode="before")
    @classmethod
    def _split_allowed(cls, value: object) -> object:
        # An empty ALLOWED_USER_IDS= means unset (everyone), never "nobody".
        if isinstance(value, str) and not value.strip():
            return None
        return parse_id_list(value)

    def is_allowed(self, user_id: int) -> bool:
        return self.allowed_user_ids is None or user_id in self.allowed_user_ids or user_id in self.admin_user_ids

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.admin_user_ids
