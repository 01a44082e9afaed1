from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox", "0002_not_graded_runs_and_hint_track"),
    ]

    operations = [
        migrations.AddField(
            model_name="attempt",
            name="pending",
            field=models.BooleanField(
                default=False,
                help_text="A live run recorded before it went to Claude and not finished yet; "
                "one whose process died stays so. Grading, progress and the tutor leave it out.",
            ),
        ),
    ]
