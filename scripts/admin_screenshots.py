"""Screenshots of the staff admin's key pages at a 1,400 px laptop width, for a reviewer to look at.

Seeds a small, realistic fleet in a PostgreSQL database created for the run (dropped after unless --keep),
serves the admin from this process (Django's WSGI app with its static files) and renders each page in
headless Debian ``chromium`` into var/screenshots/ (not committed). Staff are logged in with a real session
of a real credential manager; because chromium's --screenshot mode cannot type into a login form, the
server adds that session's cookie to requests that arrive without one. The "Add brokerage with errors" page
is the answer to a real POST (Django's test client, the same session), served back for chromium to render.

Run: .venv/bin/python scripts/admin_screenshots.py [--out var/screenshots] [--keep]
Needs: chromium (apt-get install -y chromium) and the services of scripts/services-up.sh (PostgreSQL).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WIDTH = 1400


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(ROOT / "var" / "screenshots"))
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--keep", action="store_true", help="keep the database (named in the output) for a look")
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("chromium is not installed: apt-get install -y chromium")

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/engage_sync")
    name = f"{base.rsplit('/', 1)[1]}_screens"
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", name], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    os.environ["DATABASE_URL"] = f"{base.rsplit('/', 1)[0]}/{name}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost,testserver"
    os.environ["SESSION_COOKIE_SECURE"] = os.environ["CSRF_COOKIE_SECURE"] = "0"
    try:
        run(args, browser)
    finally:
        from django.db import connections

        connections.close_all()
        if args.keep:
            print(f"kept database {name}")
        else:
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", name], check=True)


def run(args, browser: str) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from django.test import Client

    settings.DEBUG = False
    call_command("migrate", verbosity=0)
    seeded = seed()
    client = Client()
    client.force_login(seeded.user)
    session_cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    rendered = {
        "/screens/add-with-errors/": _add_form_with_errors(client, seeded),
        "/screens/import-report/": _import_report(client, seeded),
    }

    django_app = StaticFilesHandler(get_wsgi_application())

    def app(environ, start_response):
        if environ.get("PATH_INFO") in rendered:
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [rendered[environ["PATH_INFO"]]]
        if settings.SESSION_COOKIE_NAME not in environ.get("HTTP_COOKIE", ""):
            environ["HTTP_COOKIE"] = session_cookie
        return django_app(environ, start_response)

    server = make_server("127.0.0.1", args.port, app, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{args.port}"
    pages = {
        "01-brokerage-list": ("/admin/brokerages/brokerage/", 900),
        "02-brokerage-page": (f"/admin/brokerages/brokerage/{seeded.harbor.pk}/change/", 2600),
        "03-mailbox-list-failing": (f"/admin/brokerages/mailbox/?brokerage__id__exact={seeded.harbor.pk}&state=failing", 1000),
        "04-paused-mailbox": (f"/admin/brokerages/mailbox/{seeded.paused_mailbox.pk}/change/", 1300),
        "05-add-brokerage-with-errors": ("/screens/add-with-errors/", 1900),
        "06-sync-runs-failed": ("/admin/scheduling/syncrun/?outcome__exact=failed", 1100),
        "07-mailbox-import-report": ("/screens/import-report/", 900),
    }
    try:
        for name, (path, height) in pages.items():
            target = out / f"{name}.png"
            subprocess.run(
                [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                 f"--window-size={WIDTH},{height}", f"--screenshot={target}", base + path],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
            )  # fmt: skip
            print(f"{target}  ({base + path})")
    finally:
        server.shutdown()


def _import_report(client, seeded) -> bytes:
    """The import page answering a 300-row file with a few bad rows and one existing agent changed."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    domain = seeded.harbor.email_domains[0]
    lines = ["email,display_name,calendar_enabled"] + [f"new.agent{n}@{domain},New Agent {n}," for n in range(295)]
    lines += [f"ann.adams@{domain},Ann Adams,no", "someone@gmail.com,Outside,", "not an address,,", f"x@{domain},,maybe",
              f"new.agent3@{domain},Again,"]  # fmt: skip
    upload = SimpleUploadedFile("agents.csv", ("\n".join(lines) + "\n").encode(), content_type="text/csv")
    response = client.post(f"/admin/brokerages/brokerage/{seeded.harbor.pk}/import-mailboxes/", {"file": upload})
    assert response.status_code == 200, response.status_code
    return response.content


def _add_form_with_errors(client, seeded) -> bytes:
    """The Add brokerage page as it answers a submission with several mistakes at once."""
    response = client.post("/admin/brokerages/brokerage/add/", {
        "name": "Bayview Homes", "tenant_id": "bayviewhomes.onmicrosoft.com", "client_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "credential_kind": "client_secret", "new_client_secret": "Bv8Q~a-new-secret-value.abcdefghij0123", "client_secret_expires_on": "",
        "test_mailbox": "office@gmail.com", "email_domains": f"{seeded.harbor.email_domains[0]}, bad realty.com",
        "mailbox_backend": "ews", "ews_url": "https://outlook.office365.com/EWS/Exchange.asmx",
        "authority_host": "https://login.microsoftonline.com", "ca_bundle_path": "",
    })  # fmt: skip
    assert response.status_code == 200, response.status_code
    return response.content


@dataclass
class Seeded:
    user: object
    harbor: object
    paused_mailbox: object


FIRST = ("ann", "bob", "carla", "dev", "erin", "femi", "gita", "hugo", "ines", "jon", "kate", "liam", "maya", "noor",
         "omar", "pia", "quinn", "rosa", "sam", "tara")  # fmt: skip
LAST = ("adams", "baker", "chen", "diaz", "evans", "fischer", "garcia", "hughes", "ito")


def seed() -> Seeded:
    """Six brokerages in the states staff meet, one with 180 agents, a day of sync runs, verifications."""
    import datetime as dt
    import random
    import uuid

    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from brokerages.models import Brokerage, Mailbox, VerificationRun, VerificationStep
    from brokerages.roles import CREDENTIAL_MANAGERS
    from brokerages.verification import STEPS
    from mailboxes import errors
    from scheduling.models import SyncRun

    rng = random.Random(14)
    now = timezone.now()
    user = User.objects.create_user("carla.credentials", password="unused-session-only", is_staff=True)
    user.groups.add(Group.objects.get(name=CREDENTIAL_MANAGERS))

    def brokerage(name: str, domain: str, status: str, agents: int, secret_days: int = 400) -> Brokerage:
        made = Brokerage.objects.create(
            name=name, status=status, tenant_id=uuid.uuid4(), client_id=uuid.uuid4(), client_secret="Sc8Q~seed-secret-value.0123456789abcd",
            client_secret_expires_on=now.date() + dt.timedelta(days=secret_days), test_mailbox=f"it.test@{domain}", email_domains=[domain],
        )  # fmt: skip
        names = [f"{first}.{last}" for last in LAST for first in FIRST][:agents]
        Mailbox.objects.bulk_create(
            Mailbox(brokerage=made, email=f"{local}@{domain}", display_name=local.replace(".", " ").title(),
                    next_sync_at=now + dt.timedelta(seconds=rng.randint(5, 300)),
                    last_synced_at=now - dt.timedelta(seconds=rng.randint(30, 300)))
            for local in names
        )  # fmt: skip
        return made

    harbor = brokerage("Harbor Homes", "harborhomes.com", Brokerage.Status.ACTIVE, 180)
    seaside = brokerage("Seaside Realty", "seasiderealty.com", Brokerage.Status.ACTIVE, 60, secret_days=12)
    brokerage("Bayview Partners", "bayviewpartners.com", Brokerage.Status.CANNOT_BE_VERIFIED, 25)
    brokerage("Northgate Properties", "northgateproperties.com", Brokerage.Status.PAUSED, 40)
    brokerage("Summit Realty Group", "summitrealty.com", Brokerage.Status.NEW, 0)
    brokerage("Lakeside Brokers", "lakesidebrokers.com", Brokerage.Status.VERIFIED, 12)
    Brokerage.objects.filter(pk=seaside.pk).update(cooldown_until=now + dt.timedelta(minutes=4))

    # Harbor's agents in every state: failing with two error classes, paused by the guard and by staff, inactive.
    agents = list(harbor.mailboxes.order_by("email"))
    failing = {agent.pk: errors.MailboxNotFound if n < 5 else errors.MailboxOutOfScope for n, agent in enumerate(agents[:8])}
    Mailbox.objects.filter(pk__in=failing).update(consecutive_failures=6, last_synced_at=now - dt.timedelta(hours=7))
    paused = agents[10]
    Mailbox.objects.filter(pk=paused.pk).update(sync_paused=True, sync_paused_reason=(
        "Mass-deletion guard: the mailbox side lost 212 of 230 linked items (more than 50%, at least 25) in one sync"))  # fmt: skip
    Mailbox.objects.filter(pk=agents[11].pk).update(
        sync_paused=True, sync_paused_reason=f"Paused by carla.credentials on {now:%Y-%m-%d} 09:12 UTC")
    Mailbox.objects.filter(pk__in=[a.pk for a in agents[-5:]]).update(is_active=False)

    runs = []
    for hour in range(24):
        for agent in agents[:60]:
            started = now - dt.timedelta(hours=hour, minutes=rng.randint(0, 59))
            error = failing.get(agent.pk) if hour < 7 else None
            if error is not None:
                runs.append(SyncRun(mailbox=agent, brokerage=harbor, started_at=started, outcome="failed", duration_ms=rng.randint(300, 900),
                                    error_class=error.kind, error_message=f"{error.title}: {agent.email}", remedy=error.remedy))  # fmt: skip
            else:
                runs.append(SyncRun(mailbox=agent, brokerage=harbor, started_at=started, outcome="ok", duration_ms=rng.randint(200, 4000),
                                    pulled=rng.choice((0, 0, 0, 1, 2, 5)), pushed=rng.choice((0, 0, 1, 3)), requests=rng.randint(3, 12)))  # fmt: skip
    for agent in seaside.mailboxes.all()[:20]:
        runs.append(SyncRun(mailbox=agent, brokerage=seaside, started_at=now - dt.timedelta(minutes=rng.randint(1, 50)), outcome="throttled",
                            error_class=errors.Throttled.kind, remedy=errors.Throttled.remedy, duration_ms=150))  # fmt: skip
    SyncRun.objects.bulk_create(runs, batch_size=2_000)

    run = VerificationRun.objects.create(brokerage=harbor, reason=VerificationRun.Reason.DAILY, test_mailbox=harbor.test_mailbox,
                                         status=VerificationRun.Status.VERIFIED, created_at=now - dt.timedelta(hours=3),
                                         started_at=now - dt.timedelta(hours=3), finished_at=now - dt.timedelta(hours=3) + dt.timedelta(seconds=4))  # fmt: skip
    VerificationStep.objects.bulk_create(
        VerificationStep(run=run, position=n, name=step.name, label=step.label, duration_ms=rng.randint(80, 900),
                         outcome="skipped" if step.name == "message" else "ok")
        for n, step in enumerate(STEPS, 1)
    )  # fmt: skip
    return Seeded(user=user, harbor=harbor, paused_mailbox=paused)


if __name__ == "__main__":
    main()
