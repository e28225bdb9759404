"""Re-encrypt every encrypted field of every model under the newest key, so older keys can be dropped."""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction

from brokerages import crypto
from brokerages.fields import Ciphertext, EncryptedSecretField


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored credential under the newest key in ENGAGE_ENCRYPTION_KEYS. Safe to run again "
        "(values already under the newest key are left alone) and to interrupt (each batch commits on its own)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="Rows per transaction (default 500).")

    def handle(self, *args, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        total_reencrypted = 0
        for model, fields in encrypted_fields_by_model():
            total_reencrypted += self._rotate_model(model, fields, batch_size)
        self.stdout.write(f"Done: {total_reencrypted} value(s) re-encrypted under the newest key.")

    def _rotate_model(self, model: type[models.Model], fields: list[str], batch_size: int) -> int:
        rows = model._base_manager.exclude(**{f"{fields[0]}__isnull": True})
        for name in fields[1:]:
            rows = rows | model._base_manager.exclude(**{f"{name}__isnull": True})
        total = rows.count()
        checked = reencrypted = 0
        last_pk = None
        while True:
            with transaction.atomic():
                batch = rows.order_by("pk").select_for_update(of=("self",))
                if last_pk is not None:
                    batch = batch.filter(pk__gt=last_pk)
                batch = list(batch.values_list("pk", *fields)[:batch_size])
                if not batch:
                    break
                for pk, *tokens in batch:
                    updates = self._reencrypted(model, pk, dict(zip(fields, tokens, strict=True)))
                    if updates:
                        model._base_manager.filter(pk=pk).update(**updates)
                        reencrypted += len(updates)
                checked += len(batch)
                last_pk = batch[-1][0]
            self.stdout.write(
                f"{model._meta.label} ({', '.join(fields)}): {checked}/{total} rows checked, "
                f"{reencrypted} value(s) re-encrypted"
            )
        if total == 0:
            self.stdout.write(f"{model._meta.label} ({', '.join(fields)}): no stored values")
        return reencrypted

    @staticmethod
    def _reencrypted(model, pk, tokens: dict[str, str | None]) -> dict[str, Ciphertext]:
        updates = {}
        for name, token in tokens.items():
            if token is None or crypto.is_under_newest_key(token):
                continue
            try:
                updates[name] = Ciphertext(crypto.reencrypt(token))
            except crypto.InvalidToken:
                raise CommandError(str(crypto.UndecryptableSecret(model._meta.label, name, pk))) from None
        return updates


def encrypted_fields_by_model() -> list[tuple[type[models.Model], list[str]]]:
    """Every concrete model with EncryptedSecretFields, and those fields' names."""
    found = []
    for model in apps.get_models():
        names = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedSecretField)]
        if names and not model._meta.proxy:
            found.append((model, names))
    return found
