"""What the odoo-cloud maintenance commands (`migrate`, `fsck`) share: argument types, logging to stderr,
the wording of a failed database connection.

One place, so that the commands word their usage errors and log lines alike and a fix reaches both.
"""
from __future__ import annotations

import argparse
import logging
import sys

from .masking import mask_secrets

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(logger: logging.Logger) -> None:
    """INFO lines on stderr, with a timestamp: a command's progress is its log.

    When something configured logging already (a test, a program embedding the command), its handlers
    stay; only a root quieter than INFO is kept from swallowing this command's own progress lines.
    """
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=LOG_FORMAT)
    elif root.level > logging.INFO:
        logger.setLevel(logging.INFO)


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """argparse type: seconds, a number > 0 (NaN refused)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected seconds, a number > 0, got {text!r}")
    return value


def log_connect_error(logger: logging.Logger, exc: BaseException) -> None:
    """psycopg2's message names host and port; a DSN given with its password is masked all the same."""
    logger.error("cannot connect to the database: %s", mask_secrets(str(exc).strip()))
