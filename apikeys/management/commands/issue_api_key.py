"""Issue a CRM API key from the shell; the key goes to stdout (alone, once) or to --key-file, never anywhere else."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from apikeys import issuing
from apikeys.models import Permission
from brokerages.models import Brokerage


class Command(BaseCommand):
    help = (
        "Issue an API key for a CRM client, scoped to brokerages (--brokerage, repeatable, or --all-brokerages) and "
        f"permissions ({', '.join(Permission.values)}, or all). The key is printed once on stdout; store it now."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client", required=True, help='who holds the key, e.g. "Engage CRM"')
        parser.add_argument("--brokerage", type=int, action="append", default=[], metavar="ID", help="a brokerage's id")
        parser.add_argument("--all-brokerages", action="store_true", help="reach every brokerage (credential managers only)")
        parser.add_argument("--permissions", required=True, help="comma-separated, e.g. contacts:read,events:read")
        parser.add_argument("--expires", type=dt.date.fromisoformat, metavar="YYYY-MM-DD", help="unusable from that day (UTC)")
        parser.add_argument("--issued-by", required=True, metavar="USERNAME", help="the staff user answerable for it (audited)")
        parser.add_argument("--key-file", type=Path, help="write the key to this new file (mode 600) instead of stdout")

    def handle(self, *args, client, brokerage, all_brokerages, permissions, expires, issued_by, key_file, **options):
        actor = get_user_model().objects.filter(username=issued_by).first()
        if actor is None:
            raise CommandError(f"There is no user {issued_by!r}.")
        brokerages = list(Brokerage.objects.filter(pk__in=brokerage))
        missing = sorted(set(brokerage) - {b.pk for b in brokerages})
        if missing:
            raise CommandError(f"There is no brokerage with id {', '.join(map(str, missing))}.")
        expires_at = None if expires is None else dt.datetime.combine(expires, dt.time.min, tzinfo=dt.UTC)
        try:
            key, raw = issuing.issue_key(
                client=client, permissions=issuing.parse_permissions(permissions), brokerages=brokerages,
                all_brokerages=all_brokerages, expires_at=expires_at, actor=actor,
            )  # fmt: skip
        except (PermissionDenied, ValidationError) as error:
            raise CommandError(" ".join(getattr(error, "messages", [str(error)]))) from None
        self.stderr.write(
            f"Issued API key {key.prefix} for {key.name}: reaches {key.scope_description()}; "
            f"permissions {', '.join(key.permissions)}; expires {key.expiry_date or 'never'}."
        )
        if key_file is None:
            self.stderr.write("The key follows, shown this once: it is stored only as a hash.")
            self.stdout.write(raw)
            return
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(raw + "\n")
        self.stderr.write(f"The key is in {key_file} (mode 600); it is stored here only as a hash.")
