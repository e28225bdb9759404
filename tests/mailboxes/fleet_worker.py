"""One worker process of a simulated fleet: reaches mailboxes of one brokerage through its own gateway."""

from __future__ import annotations

import time

from mailboxes.connection import ConnectionDetails
from mailboxes.gateway import open_gateway
from mailboxes.secret import Secret
from mailboxes.tokens import TokenProvider


def reach_mailboxes(plain: dict, mailboxes: list[str], redis_url: str, key_prefix: str, start_at: float) -> int:
    """Wait for the common start, then check each mailbox once; returns how many were reached."""
    details = ConnectionDetails(**{**plain, "client_secret": Secret(plain["client_secret"]),
                                   "allowed_domains": frozenset(plain["allowed_domains"])})
    gateway = open_gateway(details, TokenProvider.from_redis_url(redis_url, key_prefix=key_prefix))
    time.sleep(max(0.0, start_at - time.time()))  # all processes ask for a token at the same moment
    for mailbox in mailboxes:
        gateway.check_mailbox(mailbox)
    return len(mailboxes)
