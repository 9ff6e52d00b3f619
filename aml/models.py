"""AML records: rule set versions, and the immutable assessments the engine writes.

* ``RuleSet`` is a version of the rule parameters, weights and decision bands (``params`` JSON; its
  shape is documented by the engine in ``aml.engine``). A draft is edited; publishing makes it the
  one version in force (at most one ``published`` row, a partial unique index) and freezes it; the
  previous one is ``retired``. The publisher must not be the author (four-eyes, a CHECK constraint).
* ``Assessment`` is one screening of one subject (a confirmed deposit, a charge or service order, a
  payout request, an account change): the rule set version used, the total score, the decision,
  and one ``RuleOutcome`` per rule with its outcome (hit, no hit, not enough data, error), points
  and a plain-language reason with the numbers behind it (``data``). Both are append-only (model
  layer and PostgreSQL triggers): an explanation can never be edited after the fact (invariant 7).
  ``subject_ref`` identifies the subject across apps without a foreign key (payments must not
  know aml): ``deposit:<id>``, ``charge:<idempotency key>``, ``payout:<id>``,
  ``account:<client id>:<field>``. ``facts`` keeps the subject's facts as screened, so a backtest
  can re-score it with a draft rule set.

Added by the engine (migration 0002):

* A published (or retired) ``RuleSet`` is immutable: ``save``/``update``/``delete`` refuse it in
  the model layer, and a PostgreSQL trigger refuses any UPDATE of it except ``published ->
  retired`` (and any DELETE), so raw SQL cannot rewrite the rules an assessment was made under.
  ``RuleSetEdit`` is the append-only trail of who changed a draft and how (the publisher must be
  none of them: four eyes).
* ``ClientVerification``: the client's KYC level (``unverified`` when there is no row). Changed
  only by staff through ``aml.kyc.kyc_level_set`` (a transition with an audit row).
* ``RuleSnooze``: one rule silenced for one client until a date, set from a reviewed case
  (append-only; ``aml.snooze``).
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from nexora.accounts.models import ClientProfile
from nexora.common.models import AppendOnlyError, AppendOnlyModel
from payments.models.ledger import MONEY_DIGITS, MONEY_PLACES


class RuleSetStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


# What may change on a rule set once it is no longer a draft: only its status (published ->
# retired) and the timestamp that moves with it. Mirrored by the trigger in migration 0002.
RULESET_MUTABLE_AFTER_PUBLISH = frozenset({"status", "updated_at"})


class RuleSetQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        frozen = set(kwargs) - RULESET_MUTABLE_AFTER_PUBLISH
        if frozen and self.exclude(status=RuleSetStatus.DRAFT).exists():
            raise AppendOnlyError(f"published rule sets are immutable (tried to change {sorted(frozen)})")
        return super().update(**kwargs)

    def delete(self) -> NoReturn:
        raise AppendOnlyError("rule sets are never deleted (assessments name them)")


class RuleSet(models.Model):
    version = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=12, choices=RuleSetStatus.choices, default=RuleSetStatus.DRAFT)
    params = models.JSONField(default=dict)
    based_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="drafts"
    )
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RuleSetQuerySet.as_manager()

    class Meta:
        permissions = [
            ("edit_ruleset", "Can edit draft rule sets"),
            ("publish_ruleset", "Can publish a rule set drafted by someone else"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="published"), name="ruleset_one_published"
            ),
            models.CheckConstraint(
                condition=Q(published_by__isnull=True)
                | Q(created_by__isnull=True)
                | ~Q(published_by=F("created_by")),
                name="ruleset_publisher_not_author",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(published_at__isnull=False),
                name="ruleset_published_has_date",
            ),
        ]
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"rule set v{self.version} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            stored = type(self).objects.filter(pk=self.pk).values_list("status", flat=True).first()
            if stored is not None and stored != RuleSetStatus.DRAFT:
                raise AppendOnlyError(f"rule set v{self.version} is {stored} and immutable")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("rule sets are never deleted (assessments name them)")


class RuleSetEdit(AppendOnlyModel):
    """One edit of a draft: who, when, and the changed paths with before/after values."""

    ruleset = models.ForeignKey(RuleSet, on_delete=models.PROTECT, related_name="edits")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"edit of rule set #{self.ruleset_id} by #{self.actor_id}"


class SubjectType(models.TextChoices):
    DEPOSIT = "deposit", "Deposit"
    CHARGE = "charge", "Charge or service order"
    PAYOUT = "payout", "Refund or payout request"
    ACCOUNT_CHANGE = "account_change", "Account change"


class Decision(models.TextChoices):
    """Ordered by strictness in ``DECISION_ORDER``."""

    ALLOW = "allow", "Allow"
    REVIEW = "review", "Hold for review"
    FREEZE = "freeze", "Hold and freeze the account"


DECISION_ORDER = {Decision.ALLOW: 0, Decision.REVIEW: 1, Decision.FREEZE: 2}


class AssessmentTrigger(models.TextChoices):
    EVENT = "event", "The event itself"
    RESCREEN = "rescreen", "Re-screened (e.g. after a sanctions list update)"


class Assessment(AppendOnlyModel):
    subject_type = models.CharField(max_length=16, choices=SubjectType.choices)
    subject_ref = models.CharField(max_length=240)
    client = models.ForeignKey(ClientProfile, on_delete=models.PROTECT, related_name="assessments")
    ruleset = models.ForeignKey(RuleSet, on_delete=models.PROTECT, related_name="assessments")
    trigger = models.CharField(
        max_length=12, choices=AssessmentTrigger.choices, default=AssessmentTrigger.EVENT
    )
    amount = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    score = models.IntegerField()
    decision = models.CharField(max_length=8, choices=Decision.choices)
    sanctions_hit = models.BooleanField(default=False)
    summary = models.CharField(
        max_length=300, blank=True, help_text="Staff-facing; never shown to the client."
    )
    facts = models.JSONField(default=dict, blank=True, help_text="The subject's facts as screened.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["subject_type", "subject_ref", "-created_at"]),
            models.Index(fields=["client", "-created_at"]),
            models.Index(fields=["decision", "-created_at"]),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"assessment#{self.pk} {self.subject_ref}: {self.decision} ({self.score})"


class Outcome(models.TextChoices):
    HIT = "hit", "Hit"
    NO_HIT = "no_hit", "No hit"
    INSUFFICIENT_DATA = "insufficient_data", "Not enough data"
    ERROR = "error", "Error"


class RuleOutcome(AppendOnlyModel):
    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, related_name="outcomes")
    rule = models.CharField(max_length=40)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    points = models.IntegerField(default=0)
    snoozed = models.BooleanField(default=False, help_text="Hit, but silenced for this client by staff.")
    reason = models.TextField(help_text="Plain language, with the numbers behind it.")
    data = models.JSONField(default=dict, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["assessment", "rule"], name="rule_outcome_unique")]
        ordering = ["assessment", "position"]

    def __str__(self) -> str:
        return f"{self.rule}: {self.outcome} ({self.points})"


class KycLevel(models.TextChoices):
    UNVERIFIED = "unverified", "Unverified"
    BASIC = "basic", "Basic"
    FULL = "full", "Full"


class ClientVerification(models.Model):
    client = models.OneToOneField(ClientProfile, on_delete=models.PROTECT, related_name="verification")
    level = models.CharField(max_length=12, choices=KycLevel.choices, default=KycLevel.UNVERIFIED)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [("change_kyc_level", "Can change a client's verification (KYC) level")]

    def __str__(self) -> str:
        return f"client #{self.client_id}: {self.level}"


class RuleSnooze(AppendOnlyModel):
    client = models.ForeignKey(ClientProfile, on_delete=models.PROTECT, related_name="rule_snoozes")
    rule = models.CharField(max_length=40)
    until = models.DateTimeField()
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="snoozes")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        permissions = [("snooze_rule", "Can snooze a rule for one client from a reviewed case")]
        indexes = [models.Index(fields=["client", "until"])]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.rule} snoozed for client #{self.client_id} until {self.until:%Y-%m-%d}"
