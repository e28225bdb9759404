"""Prepare the local demo: the admin login (and, once the simulator lands, a seeded demo brokerage)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create or update the demo's superuser 'admin' with the given password."

    def add_arguments(self, parser):
        parser.add_argument("--admin-password", required=True)

    def handle(self, *args, admin_password: str, **options):
        user, created = get_user_model().objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True, "email": "admin@localhost"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(admin_password)
        user.save()
        self.stdout.write(f"[demo] admin user {'created' if created else 'updated'}")
