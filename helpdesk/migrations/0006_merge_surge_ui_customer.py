from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("helpdesk", "0005_surge_contact_last_position_at"),
        ("helpdesk", "0005_ui_customer_attachments"),
    ]

    operations = []
