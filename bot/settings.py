"""The Telegram side's settings (CONTRACT.md's environment table, plus documented extras)."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Telegram takes 1-256 of these; a webhook's only credential is this secret, so it is held to 32 or more (about
# 190 bits when random; `python -c "import secrets; print(secrets.token_urlsafe(32))"` makes one).
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,256}")
TELEGRAM_DOWNLOAD_LIMIT_BYTES = 20 * 1024 * 1024  # the Bot API lets a bot download files up to 20 MB
DEFAULT_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_FILE_URL = "https://api.telegram.org/file/bot"


class TelegramSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = DEFAULT_BASE_URL
    telegram_api_file_url: str = DEFAULT_FILE_URL
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "0.0.0.0"  # noqa: S104 - a webhook must be reachable from outside
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    max_document_bytes: int = Field(default=1024 * 1024, ge=1, le=TELEGRAM_DOWNLOAD_LIMIT_BYTES)
    concurrent_updates: int = Field(default=64, ge=1)
    telegram_max_retries: int = Field(default=3, ge=0)
    # One message a second under Telegram's 30/s: the same bucket exactly would meet timing jitter with 429s, and
    # each 429 stops every request for the retry_after. 0: no pacing (a Bot API server without that ceiling).
    telegram_max_sends_per_s: float = Field(default=29.0, ge=0)
    ops_listen: str = "127.0.0.1"
    ops_port: int = Field(default=9464, ge=0, le=65535)  # 0 picks a free port
    ops_enabled: bool = True
    max_outbox_lag_s: float = Field(default=300.0, gt=0)
    flood_max_updates: int = Field(default=20, ge=1)
    flood_window_s: float = Field(default=10.0, gt=0)

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_max_sends_per_s")
    @classmethod
    def _off_or_at_least_one(cls, value: float) -> float:
        if 0 < value < 1:  # python-telegram-bot's limiter could never admit a single message
            raise ValueError("must be 0 (no pacing) or at least 1")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_as_telegram_takes_it(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not SECRET_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError("must be 32-256 characters of A-Z a-z 0-9 _ - (make one with secrets.token_urlsafe(32))")
        return value

    @property
    def token(self) -> str | None:
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else None
