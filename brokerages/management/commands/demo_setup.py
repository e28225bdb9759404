"""Prepare the local demo: the admin login, the demo brokerage the simulator's seed-demo created, and a CRM API key.

The brokerage is entered as staff would enter it in the admin (tenant, client id, secret, test mailbox,
domains, the simulator's endpoints and CA), so the newcomer sees verification and sync run on their own.
The API key (the demo brokerage, every permission) is kept in a private file, since the database holds only
its hash; a key in that file that no longer works (a fresh database, say) is replaced.
"""

import datetime as dt
import json
import os
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apikeys.issuing import issue_key
from apikeys.models import ApiKey, Permission
from brokerages.models import Brokerage, Mailbox

DEMO_NAME = "Harbour Realty (demo)"
DEMO_CLIENT = "Engage CRM (demo)"


class Command(BaseCommand):
    help = "Create or update the demo's superuser 'admin', and the demo brokerage from seed-demo's JSON."

    def add_arguments(self, parser):
        # From the environment by default (scripts/demo.sh exports it): a command line is visible to every local user.
        parser.add_argument("--admin-password", default=os.environ.get("DEMO_ADMIN_PASSWORD"),
                            help="default: $DEMO_ADMIN_PASSWORD")  # fmt: skip
        parser.add_argument("--brokerage-json", help="the file `python -m simulator seed-demo --json FILE` wrote")
        parser.add_argument("--api-key-file", help="keep the demo CRM's API key here (mode 600); needs --brokerage-json")

    def handle(self, *args, admin_password: str | None, brokerage_json: str | None, api_key_file: str | None,
               **options):
        if not admin_password:
            raise CommandError("Set DEMO_ADMIN_PASSWORD (or pass --admin-password).")
        user, created = get_user_model().objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True, "email": "admin@localhost"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(admin_password)
        user.save()
        self.stdout.write(f"[demo] admin user {'created' if created else 'updated'}")
        if brokerage_json:
            brokerage = self._brokerage(Path(brokerage_json))
            if api_key_file:
                self._api_key(brokerage, user, Path(api_key_file))

    def _api_key(self, brokerage: Brokerage, admin, path: Path) -> None:
        """Keep the key in path if it still opens the demo brokerage; otherwise issue one and write it there."""
        kept = ApiKey.objects.matching(path.read_text().strip()) if path.exists() else None
        if kept is None or kept.revoked or kept.has_expired or not kept.brokerages.filter(pk=brokerage.pk).exists():
            _, raw = issue_key(client=DEMO_CLIENT, permissions=Permission.values, brokerages=[brokerage], actor=admin)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(raw + "\n")
            path.chmod(0o600)
        mailbox = brokerage.mailboxes.order_by("pk").first()
        self.stdout.write(
            f"[demo] CRM API key for {brokerage.name!r} (every permission) in {path}; e.g. "
            f"curl -H \"Authorization: Api-Key $(cat {path})\" "
            f"http://127.0.0.1:{os.environ.get('WEB_PORT', '8000')}/api/mailboxes/{mailbox.pk}/contacts/"
        )

    @transaction.atomic
    def _brokerage(self, path: Path) -> Brokerage:
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
        return brokerage
