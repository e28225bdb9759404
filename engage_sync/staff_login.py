"""Who is logging in to the admin, for django-axes' lockout (failures counted per username and client address).

Behind a TLS proxy REMOTE_ADDR is the proxy's address, so every staff member would share one lock; with
TRUSTED_PROXY_COUNT proxies in front, the client is the address the outermost of them put in X-Forwarded-For
(counted from the right, as each proxy appends the address it saw, so a client cannot forge it by sending the
header itself).
"""

from __future__ import annotations

from django.conf import settings


def client_address(request) -> str:
    proxies = settings.TRUSTED_PROXY_COUNT
    remote = request.META.get("REMOTE_ADDR", "")
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    # Each of our proxies appends the address it was reached from: the outermost appends the client's, at -proxies.
    return forwarded[-proxies] if len(forwarded) >= proxies else remote
