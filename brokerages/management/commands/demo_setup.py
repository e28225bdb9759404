"""Prepare the local demo: the admin login, and the demo brokerage the simulator's seed-demo created.

The brokerage is entered as staff would enter it in the admin (tenant, client id, secret, test mailbox,
domains, the simulator's endpoints and CA), so the newcomer sees verification and sync run on their own.
"""

import datetime as dt
import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from brokerages.models import Brokerage, Mailbox

DEMO_NAME = "Harbour Realty (demo)"


class Command(BaseCommand):
    help = "Create or update the demo's superuser 'admin', and the demo brokerage from seed-demo's JSON."

    def add_arguments(self, parser):
        parser.add_argument("--admin-password", required=True)
        parser.add_argument("--brokerage-json", help="the file `python -m simulator seed-demo --json FILE` wrote")

    def handle(self, *args, admin_password: str, brokerage_json: str | None, **options):
        user, created = get_user_model().objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True, "email": "admin@localhost"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(admin_password)
        user.save()
        self.stdout.write(f"[demo] admin user {'created' if created else 'updated'}")
        if brokerage_json:
            self._brokerage(Path(brokerage_json))

    @transaction.atomic
    def _brokerage(self, path: Path) -> None:
        try:
            seed = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the demo brokerage from {path}: {exc}") from None
        domain = seed["test_mailbox"].rpartition("@")[2]
        brokerage = Brokerage.objects.filter(tenant_id=seed["tenant_id"]).first() or Brokerage(tenant_id=seed["tenant_id"])
        brokerage.name = DEMO_NAME
        brokerage.client_id = seed["client_id"]
        brokerage.client_secret = seed["client_secret"]
        brokerage.client_secret_expires_on = dt.date.fromisoformat(seed["secret_expires_at"][:10])
        brokerage.test_mailbox = seed["test_mailbox"]
        brokerage.email_domains = [domain]
        brokerage.authority_host = seed["authority"].rsplit("/", 1)[0]
        brokerage.ews_url = seed["ews_url"]
        # The simulator serves Graph beside EWS, at its base URL + /v1.0.
        brokerage.graph_url = seed.get("graph_url") or seed["authority"].rsplit("/", 1)[0] + "/v1.0"
        brokerage.ca_bundle_path = str(Path(seed["ca_path"]).resolve())
        # Active at once, so the demo syncs without a staff step; the credential change still triggers the
        # automatic verification, whose outcome shows on the brokerage page.
        brokerage.status = Brokerage.Status.ACTIVE
        brokerage.save()
        for address in seed["mailboxes"]:
            Mailbox.objects.get_or_create(
                email=address, defaults={"brokerage": brokerage, "display_name": address.split("@")[0].replace(".", " ").title()}
            )
        self.stdout.write(f"[demo] brokerage {brokerage.name!r} with {len(seed['mailboxes'])} mailboxes is in the admin")
