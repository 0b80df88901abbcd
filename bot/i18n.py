"""The words a user reads, in their language: English, Russian and Hindi, English for any other.

A handler asks for its user's ``Texts`` (``await texts_of(update, context)``) and writes every message through it:
``t("Job {job_id} is done.", job_id=job.id)``, ``t.plural("{n} scene", "{n} scenes", n)``. Placeholders are
named, so a translation may put them in any order.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Update

from bot.context import BotContext

DEFAULT_LOCALE = "en"
LOCALES = ("en", "ru", "hi")


@dataclass(frozen=True, slots=True)
class Texts:
    """One locale's messages. (Until the catalogs land, every locale answers in English.)"""

    locale: str = DEFAULT_LOCALE

    def __call__(self, message: str, /, **params: object) -> str:
        return message.format(**params) if params else message

    def plural(self, singular: str, plural: str, n: int, /, **params: object) -> str:
        return (singular if n == 1 else plural).format(n=n, **params)


def texts_for(language_code: str | None) -> Texts:
    """The texts for a Telegram ``language_code`` ("ru", "hi-IN", "de", None): a supported locale or English."""
    base = (language_code or "").split("-")[0].lower()
    return Texts(base if base in LOCALES else DEFAULT_LOCALE)


async def texts_of(update: Update, context: BotContext) -> Texts:
    """The texts for the user behind an update: the language they chose with /language, else their Telegram one."""
    del context  # the chosen language is looked up here once it is stored
    user = update.effective_user
    return texts_for(user.language_code if user else None)
