"""The write-ahead mark of the core's contract (pushed_hash) replaces the create flag and the tombstone's hash."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0001_initial"),
    ]

    operations = [
        migrations.RemoveField(model_name="contact", name="create_attempted"),
        migrations.RemoveField(model_name="contact", name="deleted_hash"),
        migrations.RemoveField(model_name="event", name="create_attempted"),
        migrations.RemoveField(model_name="event", name="deleted_hash"),
        migrations.AddField(
            model_name="contact", name="pushed_hash", field=models.CharField(blank=True, editable=False, max_length=64)
        ),
        migrations.AddField(
            model_name="event", name="pushed_hash", field=models.CharField(blank=True, editable=False, max_length=64)
        ),
    ]
