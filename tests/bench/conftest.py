"""The benchmarks measure, they do not assert: keep pytest out of this folder."""

collect_ignore_glob = ["*"]
