"""Start the calendar's periodic full read clock (sync.engine.calendar_reread_due) for folders synced before it
existed: their first full read was not recorded. Set to now, each folder's first re-read falls 14 to 28 days
from the deploy (per mailbox), not all on one day."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("sync", "0004_event_send_invitations")]

    operations = [
        migrations.RunSQL(
            "UPDATE sync_folderstate SET last_full_sync_at = now() WHERE last_full_sync_at IS NULL AND first_sync_done",
            reverse_sql=migrations.RunSQL.noop,
        )
    ]
