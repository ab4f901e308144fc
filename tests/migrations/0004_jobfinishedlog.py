from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("tests", "0003_versions")]

    operations = [
        migrations.CreateModel(
            name="JobFinishedLog",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("job_id", models.UUIDField()),
                ("state", models.CharField(max_length=10)),
            ],
        ),
    ]
