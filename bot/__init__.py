"""The Telegram adapter, the command line and the bundled Bot API emulator."""
