"""The end-to-end fixtures (emulator, config, run_bot) serve the reliability tests too."""

from tests.e2e.conftest import config, emulator, run_bot

__all__ = ["config", "emulator", "run_bot"]
