"""Logging filters that keep secrets out of process logs.

`DropQueryString` removes the query string from URLs in log lines (daphne's access log
through `django.channels.server`, anything else on the console handler): tokens and
signatures passed as query parameters must not end up in log files.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

# A URL or an absolute path followed by a query string; the query is dropped up to the next
# whitespace, quote or fragment.
_QUERY = re.compile(r"(?P<url>(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#\"']*|/[^\s?#\"']*))\?[^\s#\"']+")


def drop_query(text: str) -> str:
    return _QUERY.sub(r"\g<url>", text)


class DropQueryString(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        path = args.get("path") if isinstance(args, Mapping) else None
        if isinstance(args, Mapping) and isinstance(path, str):
            # daphne's access log: `logger.info("HTTP %(method)s %(path)s ...", details)`.
            record.args = {**args, "path": path.split("?", 1)[0]}
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler to report
            return True
        cleaned = drop_query(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
