"""The words a user reads, in their language: English, Russian and Hindi, English for any other.

A handler asks for its user's ``Texts`` (``t = await texts_of(update, context)``) and writes every message through
it: ``t("Job {job_id} is done.", job_id=job.id)``, ``t.plural("{n} scene", "{n} scenes", n)``. Placeholders are
named, so a translation may put them in any order; they are filled after the lookup, so a translation never holds
what a user wrote (that is escaped, then put in through a placeholder). A text kept in a table until it is said is
marked with ``N_("...")`` where it is written and said with ``t(TABLE[key])``.

The catalogs are gettext ``.po`` files in ``bot/locales/<locale>/LC_MESSAGES/messages.po``, made from
``bot/locales/messages.pot`` (``pybabel extract``, see the README); English is the msgid itself. Each is compiled
in memory the first time it is needed (Babel reads the .po, writes the .mo into a buffer, the standard library's
``gettext`` reads that), so no generated binary is kept in the repository. Plural forms follow CLDR's rules as
Babel writes them into the catalog's header: Russian has three ("1 сцена", "2 сцены", "5 сцен"), Hindi two.
"""

from __future__ import annotations

import functools
import gettext
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from telegram import Update

from bot.context import SERVICES_KEY, BotContext

logger = logging.getLogger(__name__)

DEFAULT_LOCALE = "en"
LOCALES = ("en", "ru", "hi")
LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
# How each language calls itself, for /language's buttons.
LANGUAGE_NAMES = {"en": "English", "ru": "Русский", "hi": "हिन्दी"}


def N_(message: str) -> str:  # gettext's own name for "translate later", which pybabel looks for
    """Marks a text for the catalogs where it is written; it is translated where it is said, with ``t(...)``."""
    return message


@dataclass(frozen=True, slots=True)
class Texts:
    """One locale's messages."""

    locale: str = DEFAULT_LOCALE
    catalog: gettext.NullTranslations = field(default_factory=gettext.NullTranslations, repr=False, compare=False)

    def __call__(self, message: str, /, **params: object) -> str:
        return self._format(self.catalog.gettext(message), message, params)

    def plural(self, singular: str, plural: str, n: int, /, **params: object) -> str:
        """``n`` goes into the text as ``{n}``; the form is the locale's for that number."""
        english = singular if n == 1 else plural
        return self._format(self.catalog.ngettext(singular, plural, n), english, {"n": n, **params})

    def _format(self, text: str, english: str, params: dict[str, object]) -> str:
        if not params:
            return text
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):  # a broken translation: tests/bot/test_i18n.py keeps them out
            logger.error("the %s translation of %r does not format; said in English", self.locale, english)
            return english.format(**params)


ENGLISH = Texts()


def texts_for(language_code: str | None) -> Texts:
    """The texts for a Telegram ``language_code`` ("ru", "hi-IN", "de", None): a supported locale or English."""
    return _texts(locale_of(language_code))


def locale_of(language_code: str | None) -> str:
    base = (language_code or "").replace("_", "-").split("-")[0].lower()
    return base if base in LOCALES else DEFAULT_LOCALE


def load_catalogs() -> None:
    """Read every catalog now (at start), so a broken one stops the bot there instead of at a user's message."""
    for locale in LOCALES:
        _texts(locale)


@functools.cache
def _texts(locale: str) -> Texts:
    if locale == DEFAULT_LOCALE:
        return ENGLISH
    return Texts(locale, compile_catalog(locale))


def po_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalog(locale: str) -> gettext.GNUTranslations:
    """The locale's .po as a gettext catalog (fuzzy entries left out, as msgfmt does)."""
    with po_path(locale).open("rb") as po:
        catalog = read_po(po, locale=locale, domain=DOMAIN)
    mo = io.BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return gettext.GNUTranslations(mo)


async def texts_of(update: Update, context: BotContext) -> Texts:
    """The texts for the user behind an update: the language they chose with /language, else their Telegram one."""
    user = update.effective_user
    if user is None:
        return ENGLISH
    chosen = await context.services.languages.chosen(user.id)
    return texts_for(chosen or user.language_code)


def texts_known(update: object, context: BotContext) -> Texts:
    """As ``texts_of``, from what this process already knows (no query): for the error handler, which may be
    handling the database's own failure."""
    user = update.effective_user if isinstance(update, Update) else None
    if user is None:
        return ENGLISH
    services = context.application.bot_data.get(SERVICES_KEY)
    chosen = services.languages.known(user.id) if services is not None else None
    return texts_for(chosen or user.language_code)
