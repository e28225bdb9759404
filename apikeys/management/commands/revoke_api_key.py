"""Revoke CRM API keys by prefix (the part before the dot, shown in the admin); audited, and for good."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apikeys import issuing
from apikeys.models import ApiKey


class Command(BaseCommand):
    help = "Revoke API keys by prefix: requests with them are refused (401) from now on. Cannot be undone."

    def add_arguments(self, parser):
        parser.add_argument("prefixes", nargs="+", metavar="PREFIX")
        parser.add_argument("--revoked-by", required=True, metavar="USERNAME", help="the staff user revoking (audited)")

    def handle(self, *args, prefixes, revoked_by, **options):
        actor = get_user_model().objects.filter(username=revoked_by).first()
        if actor is None:
            raise CommandError(f"There is no user {revoked_by!r}.")
        if not (actor.is_active and actor.has_perm(issuing.REVOKE)):
            raise CommandError(f"{revoked_by} may not revoke API keys (needs {issuing.REVOKE}).")
        keys = {key.prefix: key for key in ApiKey.objects.filter(prefix__in=prefixes)}
        unknown = [prefix for prefix in prefixes if prefix not in keys]
        if unknown:
            raise CommandError(f"No API key has the prefix {', '.join(unknown)}; nothing was revoked.")
        for prefix in prefixes:
            done = issuing.revoke_key(keys[prefix], actor=actor)
            self.stdout.write(f"{prefix} ({keys[prefix].name}): {'revoked' if done else 'was already revoked'}")
