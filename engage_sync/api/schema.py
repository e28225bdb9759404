"""The OpenAPI schema documents every status an operation can answer, each error with the error body's schema."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from .errors import ERROR_CODES


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=ERROR_CODES, help_text="Stable; what a client branches on (README: *Errors*).")
    message = serializers.CharField(help_text="For people; the first field error when there are fields.")
    fields = serializers.DictField(required=False, help_text="validation_error only: the field's path → its messages.")
    retry_after = serializers.IntegerField(required=False, help_text="rate_limited only: seconds, as Retry-After.")


class ErrorBodySerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_EVERY_OPERATION = {
    401: "No credential, or one that is not valid.",
    403: "The credential may not do this.",
    406: "The Accept header asks for something other than JSON.",
    429: "Over the credential's rate limit (API_RATE_LIMIT); Retry-After says when to try again.",
}
_WITH_PATH_IDS = {404: "No such mailbox or record (or not one this credential may see), or an invalid page cursor."}
_WITH_BODY = {
    400: "The body is malformed JSON, not an object, or has invalid fields (error.fields says which).",
    413: "The body is over the endpoint's size limit (API_MAX_REQUEST_BYTES; emails API_MAX_EMAIL_REQUEST_BYTES).",
    415: "The body is not application/json.",
}
_CREATES = {
    409: "The idempotency key was already used for a different request.",
    422: "The mailbox cannot take this write (inactive, or email not enabled for it).",
}


class ErrorDocumentingAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if self.method == "POST" and "201" in responses:  # a retried create answers 200 with the first record
            responses.setdefault("200", {**responses["201"], "description": "A retry with the same idempotency key: the first record."})
        statuses = dict(_EVERY_OPERATION)
        if "{" in self.path:
            statuses.update(_WITH_PATH_IDS)
        if self.method in ("POST", "PUT", "PATCH"):
            statuses.update(_WITH_BODY)
        if self.method == "POST":
            statuses.update(_CREATES)
        for status, description in sorted(statuses.items()):
            responses.setdefault(str(status), self._get_response_for_code(OpenApiResponse(ErrorBodySerializer, description), str(status)))
        return responses
