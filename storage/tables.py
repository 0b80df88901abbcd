"""The ``Table`` objects behind the models, for SQLAlchemy Core queries."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from storage.models import (
    Feedback,
    FeedbackPrompt,
    InboxUpdate,
    Job,
    OutboxMessage,
    Script,
    StoryboardVersion,
    User,
    VideoMetadata,
)

users = cast(Table, User.__table__)
scripts = cast(Table, Script.__table__)
jobs = cast(Table, Job.__table__)
versions = cast(Table, StoryboardVersion.__table__)
feedback = cast(Table, Feedback.__table__)
prompts = cast(Table, FeedbackPrompt.__table__)
video_metadata = cast(Table, VideoMetadata.__table__)
outbox = cast(Table, OutboxMessage.__table__)
inbox = cast(Table, InboxUpdate.__table__)
