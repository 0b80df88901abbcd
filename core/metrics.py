"""Prometheus metrics (prometheus-client), named bhiv_*; exposed by the bot's ops server at /metrics.

Counters and histograms are updated where things happen; the gauges that describe the database (jobs by
status, outbox lag) are refreshed from it just before each scrape.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)

JOBS = Gauge("bhiv_jobs", "Jobs in the database by status", ["status"])
JOBS_SUBMITTED = Counter("bhiv_jobs_submitted_total", "Jobs accepted", ["kind"])
PIPELINE_SECONDS = Histogram(
    "bhiv_pipeline_seconds", "Time from claim to result, per job", ["kind", "method"], buckets=LATENCY_BUCKETS_S
)
WAIT_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)
JOB_WAIT_SECONDS = Histogram(
    "bhiv_job_wait_seconds",
    "Time a job waited in the queue, from due to claimed (the database's clock)",
    ["kind"],
    buckets=WAIT_BUCKETS_S,
)
JOBS_IN_HAND = Gauge("bhiv_jobs_in_hand", "Jobs this process's workers are running now")
WAKEUPS_LISTENING = Gauge(
    "bhiv_wakeups_listening", "1 while other processes' wake-ups reach this one (PostgreSQL LISTEN); 0: polling"
)
JOB_FAILURES = Counter("bhiv_job_failures_total", "Failed job attempts", ["final"])
LM_REQUEST_SECONDS = Histogram(
    "bhiv_lm_request_seconds", "One HTTP request to the LM", ["outcome"], buckets=LATENCY_BUCKETS_S
)
LM_RETRIES = Counter("bhiv_lm_retries_total", "LM requests retried, by reason", ["kind"])
LM_FALLBACKS = Counter("bhiv_lm_fallbacks_total", "Storyboards made locally because the LM failed", ["kind"])
LM_REPAIRS = Counter(
    "bhiv_lm_repairs_total", "Scenes of an LM storyboard repaired from the script (dropped, merged, ...)", ["kind"]
)
OUTBOX_PENDING = Gauge("bhiv_outbox_pending", "Notifications waiting to be delivered")
OUTBOX_LAG_SECONDS = Gauge("bhiv_outbox_lag_seconds", "Age of the oldest undelivered notification")
NOTIFICATIONS = Counter("bhiv_notifications_total", "Delivery outcomes", ["kind", "outcome"])
TELEGRAM_ERRORS = Counter("bhiv_telegram_errors_total", "Errors from the Bot API, by kind", ["kind"])
UPDATES = Counter(
    "bhiv_updates_total",
    "Telegram updates by what became of them: stored, resent (stored before), replayed, joined, retried, "
    "handled, given_up",
    ["outcome"],
)
