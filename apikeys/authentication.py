"""The CRM API's one way in: ``Authorization: Api-Key <key>``; a revoked, expired or unknown key is a 401.

No session and no user token opens the API: staff log in to the admin, which is another surface, and a
staff session must not read clients' contacts through the API (operators never see them).
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_api_key.permissions import KeyParser

from . import audit
from .models import ApiKey, DeniedApiRequests

Reason = DeniedApiRequests.Reason
MAX_KEY_LENGTH = 200  # ours are 41 characters; anything far longer is not a key and is not hashed


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates the key (request.auth is the ApiKey); request.user stays anonymous: a key is no staff user."""

    keyword = KeyParser.keyword  # "Api-Key", the library's convention
    parser = KeyParser()

    def authenticate(self, request):
        raw = self.parser.get_from_authorization(request)
        if raw is None:
            return None  # no Api-Key header: the permission check answers 401 "credentials were not provided"
        key = ApiKey.objects.matching(raw.strip()) if len(raw) <= MAX_KEY_LENGTH else None
        if key is None:
            audit.record_denied(request, Reason.INVALID_KEY)
            raise AuthenticationFailed("This API key is not valid.")
        if key.revoked:
            audit.record_denied(request, Reason.REVOKED, key)
            raise AuthenticationFailed("This API key has been revoked.")
        if key.has_expired:
            audit.record_denied(request, Reason.EXPIRED, key)
            raise AuthenticationFailed("This API key has expired.")
        key.note_use()
        return AnonymousUser(), key

    def authenticate_header(self, request) -> str:
        return self.keyword  # makes DRF answer 401 (with WWW-Authenticate), not 403, to a request without a key
