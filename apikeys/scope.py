"""What a request's API key reaches: querysets narrowed to its brokerages, and lookups that answer 404 outside them.

A mailbox (or email) that does not exist and one of a brokerage the key does not reach get the same 404 and
body, so a key learns nothing about other brokerages' ids; the second kind is counted as a refused request.
"""

from __future__ import annotations

from django.db.models import Model, QuerySet
from rest_framework.exceptions import NotFound

from brokerages.models import Mailbox

from . import audit
from .models import ApiKey, DeniedApiRequests


def in_scope(queryset: QuerySet, key: ApiKey, brokerage_path: str) -> QuerySet:
    """The rows of queryset whose brokerage (reached through brokerage_path, e.g. "mailbox__brokerage") key reaches."""
    if key.all_brokerages:
        return queryset
    return queryset.filter(**{f"{brokerage_path}__api_keys": key})


def get_in_scope(request, queryset: QuerySet, brokerage_path: str, **lookup) -> Model:
    """The one row matching lookup within the key's brokerages; 404 (NotFound) when it is missing or outside them."""
    key = request.auth
    if not isinstance(key, ApiKey):
        raise NotFound()
    found = in_scope(queryset, key, brokerage_path).filter(**lookup).first()
    if found is None:
        if queryset.filter(**lookup).exists():
            audit.record_denied(request, DeniedApiRequests.Reason.OUT_OF_SCOPE, key)
        raise NotFound()
    return found


def scoped_mailbox(request, mailbox_id) -> Mailbox:
    """The mailbox if the request's key reaches it, else 404; looked up once per request."""
    cached = getattr(request, "_scoped_mailbox", None)
    if cached is not None and str(cached.pk) == str(mailbox_id):
        return cached
    mailbox = get_in_scope(request, Mailbox.objects.select_related("brokerage"), "brokerage", pk=mailbox_id)
    request._scoped_mailbox = mailbox
    return mailbox
