"""bhiv-bot's benchmarks: ``python -m tests.bench [FIGURE ...] [--quick]`` prints one line per figure.

Not collected by pytest (no ``test_*.py`` here, and ``conftest.py`` ignores the folder); see docs/BENCHMARKS.md.
"""
