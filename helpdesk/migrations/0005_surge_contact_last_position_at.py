from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("helpdesk", "0004_contact_purged_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="contact",
            name="last_position_at",
            field=models.DateTimeField(
                blank=True, null=True, verbose_name="last queue position sent"
            ),
        ),
    ]
