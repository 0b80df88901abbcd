"""The benchmarks measure, they do not assert: pytest collects nothing here (run ``python -m tests.bench``)."""

collect_ignore_glob = ["*.py"]
