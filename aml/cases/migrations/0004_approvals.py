"""Case permissions (work_case, decide_case) and four-eyes approvals.

``cases_approval`` rows are append-only apart from one move: a pending row may be decided
(status approved, rejected or cancelled, with who, when and why) without touching what was
requested. Every other UPDATE, and every DELETE, is refused by the trigger below (SQLSTATE 23001,
an ``IntegrityError`` in Django), as for the case events.
"""

import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models

from nexora.common.sql import run_on_postgres

GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION cases_approval_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = 'pending' AND NEW.status IN ('approved', 'rejected', 'cancelled')
       AND NEW.id = OLD.id AND NEW.public_id = OLD.public_id AND NEW.case_id = OLD.case_id
       AND NEW.action = OLD.action AND NEW.params = OLD.params
       AND NEW.previous_status = OLD.previous_status AND NEW.requested_by_id = OLD.requested_by_id
       AND NEW.requested_comment = OLD.requested_comment AND NEW.requested_at = OLD.requested_at THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% rows: % refused (only a pending approval may be decided, once)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
"""
ATTACH = (
    "CREATE TRIGGER cases_approval_guard BEFORE UPDATE OR DELETE ON cases_approval "
    "FOR EACH ROW EXECUTE FUNCTION cases_approval_guard();"
)
forward = [GUARD_FUNCTION, ATTACH]
backward = [
    "DROP TRIGGER IF EXISTS cases_approval_guard ON cases_approval;",
    "DROP FUNCTION IF EXISTS cases_approval_guard();",
]


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0003_retention_triggers"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="case",
            options={
                "ordering": ["opened_at", "id"],
                "permissions": [
                    (
                        "work_case",
                        "Work AML cases: assign, note, release, request documents, refund, escalate",
                    ),
                    ("decide_case", "Second approver of case decisions (four-eyes); unfreeze and terminate"),
                ],
            },
        ),
        migrations.CreateModel(
            name="Approval",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                (
                    "action",
                    models.CharField(help_text="The case action waiting, e.g. release.", max_length=32),
                ),
                (
                    "params",
                    models.JSONField(
                        blank=True, default=dict, help_text="Its parameters; amounts as strings."
                    ),
                ),
                (
                    "previous_status",
                    models.CharField(help_text="The case's status before the request.", max_length=20),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Awaiting a second approver"),
                            ("approved", "Approved"),
                            ("rejected", "Rejected"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="pending",
                        max_length=12,
                    ),
                ),
                ("requested_comment", models.TextField()),
                ("requested_at", models.DateTimeField(auto_now_add=True)),
                ("decided_comment", models.TextField(blank=True)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                (
                    "case",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="approvals", to="cases.case"
                    ),
                ),
                (
                    "decided_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "requested_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["requested_at", "id"],
                "indexes": [
                    models.Index(fields=["status", "requested_at"], name="cases_appro_status_7920ed_idx")
                ],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("status", "pending")),
                        fields=("case",),
                        name="approval_one_pending_per_case",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("decided_by__isnull", True),
                            models.Q(("decided_by", models.F("requested_by")), _negated=True),
                            _connector="OR",
                        ),
                        name="approval_four_eyes",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("decided_at__isnull", True), ("status", "pending")),
                            models.Q(
                                models.Q(("status", "pending"), _negated=True), ("decided_at__isnull", False)
                            ),
                            _connector="OR",
                        ),
                        name="approval_decided_consistent",
                    ),
                ],
            },
        ),
        migrations.RunPython(run_on_postgres(*forward), run_on_postgres(*backward)),
    ]
