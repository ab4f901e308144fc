from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("tests", "0004_jobfinishedlog")]

    operations = [
        migrations.CreateModel(
            name="Memo",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("key", models.CharField(max_length=64, unique=True)),
                ("text", models.TextField(blank=True, default="")),
                ("note", models.TextField(blank=True, null=True)),
                (
                    "amount",
                    models.DecimalField(blank=True, decimal_places=2, max_digits=12, null=True),
                ),
                ("count", models.IntegerField(blank=True, null=True)),
                ("flag", models.BooleanField(null=True)),
            ],
        ),
    ]
