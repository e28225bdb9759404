"""Print a new Fernet key for ENGAGE_ENCRYPTION_KEYS, with the steps to put it in use."""

from django.core.management.base import BaseCommand

from brokerages import crypto


class Command(BaseCommand):
    help = "Print a new encryption key for ENGAGE_ENCRYPTION_KEYS (and how to rotate to it)."
    requires_system_checks = []  # the point is to fix a missing or broken key

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true", help="Print only the key (for scripts).")

    def handle(self, *args, quiet: bool, **options):
        key = crypto.generate_key()
        if quiet:
            self.stdout.write(key)
            return
        self.stdout.write(
            f"{key}\n\n"
            f"First installation: set {crypto.KEYS_VARIABLE}={key}\n"
            "Rotation: put it in front of the current keys (newest first, comma-separated), restart every\n"
            "process, run `python manage.py rotate_encryption_key`, then remove the old key and restart again.\n"
            "Keep the key in your secret store: without it the stored credentials cannot be read."
        )
