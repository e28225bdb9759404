"""Support for the verification tests: brokerages holding a simulator tenant's credentials; waiting for a run."""

from __future__ import annotations

import datetime
import time

from django.utils import timezone

from brokerages.models import Brokerage, VerificationRun


def sim_brokerage(simulator, tenant, **overrides) -> Brokerage:
    """A saved Brokerage holding a simulator tenant's credentials as staff enter them (overrides win)."""
    values = {
        "name": tenant.display_name + " " + tenant.domain[:6],
        "tenant_id": tenant.tenant_id,
        "client_id": tenant.client_id,
        "client_secret": tenant.client_secret,
        "client_secret_expires_on": timezone.localdate() + datetime.timedelta(days=180),
        "test_mailbox": tenant.mailboxes[0] if tenant.mailboxes else f"test@{tenant.domain}",
        "email_domains": [tenant.domain],
        "ews_url": tenant.ews_url,
        "graph_url": tenant.graph_url,
        "authority_host": simulator.base_url,
        "ca_bundle_path": tenant.ca_path,
    }
    values.update(overrides)
    return Brokerage.objects.create(**values)


def wait_for_run(brokerage: Brokerage, *, after: int = 0, timeout: float = 60.0) -> VerificationRun:
    """The brokerage's newest run (newer than run ``after``) once it has finished; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = brokerage.verification_runs.filter(pk__gt=after).first()
        if run is not None and run.is_finished:
            return run
        time.sleep(0.2)
    raise AssertionError(f"no finished verification of brokerage {brokerage.pk} within {timeout}s")
