"""What staff and ops see of the fleet: per-brokerage sync health, its chart, and the Prometheus metrics.

Read-only over the scheduling state in PostgreSQL (Mailbox schedule fields, SyncRun rows); no models here.
"""
