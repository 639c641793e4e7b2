"""Keeps the Telegram token out of every log record and error message.

The token is part of each Bot API URL, so libraries leak it freely: httpx logs request
URLs at INFO, PTB's `Bot` repr shows it, and a transport error may quote the URL. Filters
on loggers would miss records from loggers created later, so the redaction sits in the
log record factory and sees every record the process creates. So does the password of a
self-hosted Bot API server behind basic auth, written into TELEGRAM_API_URL.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any
from urllib.parse import quote, unquote, urlsplit

MASK = "<telegram-token>"
PASSWORD_MASK = "<password>"


class TokenRedaction:
    def __init__(self, token: str, api_url: str = "") -> None:
        password = urlsplit(api_url).password or ""  # as written: percent-encoded
        masks = {
            **dict.fromkeys((password, unquote(password)), PASSWORD_MASK),
            **dict.fromkeys((token, quote(token, safe="")), MASK),
        }
        # Longest first, so that no secret is half-masked by a shorter one inside it.
        self._secrets = sorted(((s, m) for s, m in masks.items() if s), key=lambda p: -len(p[0]))
        self._previous: Any = None
        self._factory: Any = None

    def redact(self, text: str) -> str:
        for secret, mask in self._secrets:
            text = text.replace(secret, mask)
        return text

    def install(self) -> None:
        if self._factory is not None:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record: logging.LogRecord = previous(*args, **kwargs)
            self._clean(record)
            return record

        self._previous, self._factory = previous, factory
        logging.setLogRecordFactory(factory)

    def uninstall(self) -> None:
        # Only undo our own layer: another redaction installed later stays in place.
        if self._factory is not None and logging.getLogRecordFactory() is self._factory:
            logging.setLogRecordFactory(self._previous)
        self._previous = self._factory = None

    def _clean(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's problem, not ours
            return
        if self.redact(message) != message:
            record.msg, record.args = self.redact(message), ()
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            formatted = "".join(traceback.format_exception(error)).rstrip("\n")
            if self.redact(formatted) != formatted:
                # Formatters print exc_text when set and exc_info is gone.
                record.exc_info, record.exc_text = None, self.redact(formatted)
