"""Sync runs: one row per sync of a mailbox, what it did and how it ended, for staff and for health views.

The schedule itself (due time, lease, failures) lives on the Mailbox row and the per-brokerage policy on
the Brokerage row, where the dispatcher's single statement reads them.
"""

from __future__ import annotations

from django.db import models


class SyncRun(models.Model):
    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        FAILED = "failed", "Failed"
        THROTTLED = "throttled", "Throttled"
        PAUSED = "paused", "Paused (mass-deletion guard)"
        SKIPPED = "skipped", "Skipped (paused, inactive, lease lost)"

    mailbox = models.ForeignKey("brokerages.Mailbox", on_delete=models.CASCADE, related_name="sync_runs")
    # Denormalised so the admin filters runs by brokerage without a join through a large mailbox table.
    brokerage = models.ForeignKey("brokerages.Brokerage", on_delete=models.CASCADE, related_name="sync_runs")
    task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(db_index=True)
    duration_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    pulled = models.PositiveIntegerField(default=0, help_text="Mailbox → CRM changes applied")
    pushed = models.PositiveIntegerField(default=0, help_text="CRM → mailbox changes applied")
    conflicts = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    error_class = models.CharField(max_length=64, blank=True, db_index=True)
    error_message = models.TextField(blank=True)
    remedy = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["mailbox", "-started_at"], name="syncrun_mailbox_recent"),
            models.Index(fields=["brokerage", "-started_at"], name="syncrun_brokerage_recent"),
            # The admin's outcome filter (failed, throttled, ... in a time window); runs that went well, ~90 % of
            # them, are left out to keep it small.
            models.Index(
                fields=["outcome", "-started_at"], name="syncrun_outcome_recent", condition=~models.Q(outcome="ok")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mailbox_id} {self.started_at:%Y-%m-%d %H:%M:%S} {self.outcome}"
