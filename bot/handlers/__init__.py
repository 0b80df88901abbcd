"""Handlers by feature; ``register`` wires them in order."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, TypeHandler, filters

from bot.handlers import commands, feedback, history, intake, language
from bot.handlers.access import gate
from bot.handlers.errors import on_error
from bot.keyboards import ERASE_PATTERN

NEW_MESSAGES = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE


def register(application: Application) -> None:  # type: ignore[type-arg]
    application.add_handler(TypeHandler(Update, gate), group=-1)
    for name, callback in [
        ("start", commands.on_start),
        ("help", commands.on_help),
        ("status", commands.on_status),
        ("jobs", commands.on_jobs),
        ("cancel", commands.on_cancel),
        ("video", commands.on_video),
        ("version", history.on_version),
        ("delete", history.on_delete),
        ("stats", commands.on_stats),
        ("language", language.on_language),
    ]:
        application.add_handler(CommandHandler(name, callback, filters=NEW_MESSAGES))
    application.add_handler(MessageHandler(NEW_MESSAGES & filters.COMMAND, commands.on_unknown_command))
    application.add_handler(MessageHandler(NEW_MESSAGES & filters.TEXT, intake.on_text))
    application.add_handler(MessageHandler(NEW_MESSAGES & filters.Document.ALL, intake.on_document))
    application.add_handler(
        MessageHandler(filters.UpdateType.EDITED_MESSAGE & filters.ChatType.PRIVATE, intake.on_edited)
    )
    application.add_handler(MessageHandler(NEW_MESSAGES, intake.on_other))
    application.add_handler(CallbackQueryHandler(history.on_erase_press, pattern=ERASE_PATTERN))
    application.add_handler(CallbackQueryHandler(feedback.on_callback))
    application.add_error_handler(on_error)
