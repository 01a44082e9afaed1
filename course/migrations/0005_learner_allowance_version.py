from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("course", "0004_api_charge_cost"),
    ]

    operations = [
        migrations.AddField(
            model_name="learnerallowance",
            name="version",
            field=models.PositiveBigIntegerField(default=0),
        ),
    ]
