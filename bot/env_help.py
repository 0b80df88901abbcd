"""What ``bhiv-bot run --help`` and ``worker --help`` say about the environment: the variables that matter most,
one line each. The README's configuration table has them all; a test holds these to that table."""

from __future__ import annotations

RUN_VARIABLES = [
    ("TELEGRAM_BOT_TOKEN", "the bot's token from @BotFather (required)"),
    ("TELEGRAM_API_BASE_URL", "Bot API base (default https://api.telegram.org/bot): a local Bot API server"),
    ("DATABASE_URL", "SQLAlchemy URL (default: SQLite in DATA_DIR); postgresql+psycopg://... to share it"),
    ("DATA_DIR", "where the default SQLite file lives (default ./data)"),
    ("LM_BASE_URL", "an OpenAI-compatible API base (default: the built-in generator)"),
    ("LM_API_KEY, LM_MODEL", "its key (sent as a Bearer token, never logged) and model (default gpt-4o-mini)"),
    ("ADMIN_USER_IDS", "comma-separated Telegram user ids allowed /stats"),
    ("ALLOWED_USER_IDS", "comma-separated ids that may use the bot (default: everyone)"),
    ("WEBHOOK_URL, WEBHOOK_SECRET", "webhook mode instead of long polling; the secret is required with it"),
    ("WEBHOOK_LISTEN, WEBHOOK_PORT", "where the webhook server listens (default 0.0.0.0, 8443)"),
    ("WORKER_CONCURRENCY", "jobs this process runs at once (default 4); 0: receive and send only"),
    ("JOB_LEASE_S", "a worker's hold on a job (default 60); a dead worker's job runs again after it"),
    ("TELEGRAM_MAX_SENDS_PER_S", "the bot's pacing under Telegram's ceiling (default 29); 0 turns it off"),
    ("RENDER_VIDEO", "attach a video of the storyboard to each result (default true)"),
    ("OPS_LISTEN, OPS_PORT", "where /healthz and /metrics are served (default 127.0.0.1, 9464; 0: any port)"),
    ("LOG_LEVEL, LOG_FORMAT", "DEBUG, INFO, WARNING or ERROR (default INFO); text or json"),
]

WORKER_VARIABLES = [
    ("DATABASE_URL", "the bot's database (PostgreSQL to work from another machine; default: SQLite in DATA_DIR)"),
    ("DATA_DIR", "where the default SQLite file lives (default ./data)"),
    ("LM_BASE_URL", "an OpenAI-compatible API base (default: the built-in generator)"),
    ("LM_API_KEY, LM_MODEL", "its key (sent as a Bearer token, never logged) and model (default gpt-4o-mini)"),
    ("WORKER_CONCURRENCY", "jobs this worker runs at once (default 4; 0 is refused)"),
    ("JOB_LEASE_S", "a worker's hold on a job (default 60); a dead worker's job runs again after it"),
    ("SHUTDOWN_GRACE_S", "on SIGINT or SIGTERM, how long jobs in hand may finish (default 8)"),
    ("RENDER_VIDEO", "render a video of each storyboard (default true)"),
    ("RENDER_PROCESSES", "videos rendered at once, each in a process of its own (default 1)"),
    ("OPS_LISTEN, OPS_PORT", "where /healthz and /metrics are served (default 127.0.0.1, 9464; 0: any port)"),
    ("LOG_LEVEL, LOG_FORMAT", "DEBUG, INFO, WARNING or ERROR (default INFO); text or json"),
]


def build_epilog(variables: list[tuple[str, str]]) -> str:
    width = max(len(names) for names, _ in variables)
    lines = [f"  {names:<{width}}  {meaning}" for names, meaning in variables]
    return "\n".join(
        [
            "environment (the ones that matter most; README.md's Configuration table lists every one):",
            *lines,
        ]
    )
