"""Serializers of the staff case API: query and body parsing, and rendering (never into a model).

What a reader without ``aml.view_assessment`` (support) gets: the case, its money, its documents
and its trail, but no rule name, score, points or engine summary (those stay with compliance).
The views pass ``{"assessments": bool}`` in the context and these serializers null such fields, so
one schema describes both readers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from aml.api.serializers import RuleOutcomeSerializer
from aml.cases.models import Case, CaseEvent, CaseStatus
from aml.models import Assessment, Decision
from nexora.common.api import MoneyField

ENGINE_EVENTS = frozenset({"opened", "assessment_added", "escalated_by_assessment"})
ENGINE_KEYS = frozenset({"score", "summary", "assessment"})
RULE_KEYS = frozenset({"snooze_rule", "rule"})  # a snoozed rule's name, wherever an event records it


def sees_assessments(context: Mapping[str, Any]) -> bool:
    return bool(context.get("assessments"))


# --- query of the list ---------------------------------------------------------------------------


class CaseListQuerySerializer(serializers.Serializer):
    status = serializers.CharField(
        required=False, help_text="Comma-separated statuses, e.g. open,escalated; 'active' = not closed."
    )
    band = serializers.ChoiceField(choices=[Decision.REVIEW, Decision.FREEZE], required=False)
    sanctions = serializers.BooleanField(required=False, allow_null=True, default=None)
    assignee = serializers.CharField(required=False, help_text="A staff user id, 'me' or 'none'.")
    client = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    ordering = serializers.ChoiceField(choices=["opened_at", "-opened_at", "-score"], required=False)

    def validate_status(self, value: str) -> tuple[str, ...]:
        names = [v.strip() for v in value.split(",") if v.strip()]
        if names == ["active"]:
            return tuple(s for s in CaseStatus.values if s != CaseStatus.CLOSED)
        unknown = [n for n in names if n not in CaseStatus.values]
        if unknown or not names:
            raise serializers.ValidationError(
                f"Unknown status; use {', '.join(CaseStatus.values)} or active.", code="invalid_choice"
            )
        return tuple(names)

    def validate_assignee(self, value: str) -> int:
        text = value.strip()
        if text == "me":
            return int(self.context["user"].pk)
        if text == "none":
            return 0
        if not text.isdigit() or not 0 < int(text) < 2**63:
            raise serializers.ValidationError("A staff user id, 'me' or 'none'.", code="invalid")
        return int(text)


# --- rendering -----------------------------------------------------------------------------------


class CasePersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class CaseSerializer(serializers.Serializer):
    """One row of the queue. ``held`` comes from the context (``held``: {case id: amount})."""

    id = serializers.IntegerField()
    client = serializers.IntegerField(source="client_id")
    status = serializers.CharField()
    resolution = serializers.CharField()
    band = serializers.CharField()
    sanctions = serializers.BooleanField()
    score = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()
    held = serializers.SerializerMethodField(help_text="Money still held on the case's holds.")
    currency = serializers.CharField(source="client.currency")
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    age_s = serializers.SerializerMethodField(help_text="Seconds open (until closure for a closed case).")
    assignee = CasePersonSerializer(allow_null=True)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_score(self, case: Case) -> int | None:
        return case.score if sees_assessments(self.context) else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_summary(self, case: Case) -> str | None:
        return case.summary if sees_assessments(self.context) else None

    @extend_schema_field(MoneyField())
    def get_held(self, case: Case) -> str:
        return str(self.context["held"][case.pk])

    def get_age_s(self, case: Case) -> int:
        return int(((case.closed_at or timezone.now()) - case.opened_at).total_seconds())


class CaseAssessmentSerializer(serializers.Serializer):
    """An assessment of the case; ``score``, ``summary`` and ``outcomes`` are null for support."""

    id = serializers.IntegerField()
    subject_type = serializers.CharField()
    subject_ref = serializers.CharField()
    trigger = serializers.CharField()
    amount = MoneyField(allow_null=True)
    currency = serializers.CharField()
    decision = serializers.CharField()
    sanctions_hit = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    ruleset_version = serializers.SerializerMethodField()
    score = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()
    outcomes = serializers.SerializerMethodField()

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_ruleset_version(self, assessment: Assessment) -> int | None:
        return assessment.ruleset.version if sees_assessments(self.context) else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_score(self, assessment: Assessment) -> int | None:
        return assessment.score if sees_assessments(self.context) else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_summary(self, assessment: Assessment) -> str | None:
        return assessment.summary if sees_assessments(self.context) else None

    @extend_schema_field(RuleOutcomeSerializer(many=True, allow_null=True))
    def get_outcomes(self, assessment: Assessment) -> list[dict[str, Any]] | None:
        if not sees_assessments(self.context):
            return None
        return list(RuleOutcomeSerializer(assessment.outcomes.all(), many=True).data)


class CaseHoldSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    amount = MoneyField()
    remaining = MoneyField()
    currency = serializers.CharField()
    status = serializers.CharField()
    reason = serializers.CharField()
    reference = serializers.CharField()
    created_at = serializers.DateTimeField()


class CaseDepositSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    network = serializers.CharField(source="network.code")
    asset = serializers.CharField(source="network.asset")
    units = serializers.SerializerMethodField(help_text="Base units, as a string (no rounding).")
    asset_amount = serializers.SerializerMethodField()
    credited_amount = MoneyField(allow_null=True)
    tx_hash = serializers.CharField()
    index = serializers.IntegerField()
    explorer_url = serializers.SerializerMethodField()
    source_address = serializers.CharField(source="sender")
    status = serializers.CharField()
    confirmations = serializers.IntegerField()
    late = serializers.BooleanField()
    hold = serializers.IntegerField(source="hold_id", allow_null=True)
    seen_at = serializers.DateTimeField()
    credited_at = serializers.DateTimeField(allow_null=True)

    def get_units(self, deposit: Any) -> str:
        return str(deposit.amount)

    def get_asset_amount(self, deposit: Any) -> str:
        return str(deposit.network.display(deposit.amount))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_explorer_url(self, deposit: Any) -> str | None:
        template = deposit.network.explorer_tx_url
        return template.replace("{tx}", deposit.tx_hash) if template else None


class CasePayoutSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.CharField()
    network = serializers.CharField(source="network.code")
    hold = serializers.IntegerField(source="hold_id")
    destination = serializers.CharField()
    destination_kind = serializers.CharField()
    amount = MoneyField()
    currency = serializers.CharField()
    units = serializers.SerializerMethodField()
    reason = serializers.CharField()
    reference = serializers.CharField()
    requested_by = CasePersonSerializer()
    approved_by = CasePersonSerializer(allow_null=True)
    tx_hash = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_units(self, payout: Any) -> str:
        return str(payout.units)


class CaseDocumentRequestSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    items = serializers.ListField(child=serializers.CharField())
    due_on = serializers.DateField()
    status = serializers.CharField()
    comment = serializers.CharField()
    created_by = CasePersonSerializer()
    refund_network = serializers.CharField(source="refund_network.code", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    fulfilled_at = serializers.DateTimeField(allow_null=True)


class CaseDocumentSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    request = serializers.UUIDField(source="request.public_id")
    item = serializers.CharField()
    name = serializers.CharField(source="original_name")
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    uploaded_at = serializers.DateTimeField(source="created_at")


class CaseStatementSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    text = serializers.CharField()
    language = serializers.CharField()
    created_at = serializers.DateTimeField()


class CaseEventSerializer(serializers.Serializer):
    """One entry of the trail. For support, what the engine wrote (its summary, scores) is left out."""

    id = serializers.IntegerField()
    at = serializers.DateTimeField(source="created_at")
    actor = CasePersonSerializer(allow_null=True)
    action = serializers.CharField()
    comment = serializers.SerializerMethodField()
    before = serializers.SerializerMethodField()
    after = serializers.SerializerMethodField()
    amount = MoneyField(allow_null=True)
    currency = serializers.CharField()

    def _redacted(self, event: CaseEvent) -> bool:
        return not sees_assessments(self.context) and event.action in ENGINE_EVENTS

    def get_comment(self, event: CaseEvent) -> str:
        return "" if self._redacted(event) else event.comment

    @extend_schema_field(serializers.DictField())
    def get_before(self, event: CaseEvent) -> dict[str, Any]:
        return self._values(event, event.before)

    @extend_schema_field(serializers.DictField())
    def get_after(self, event: CaseEvent) -> dict[str, Any]:
        return self._values(event, event.after)

    def _values(self, event: CaseEvent, values: dict[str, Any]) -> dict[str, Any]:
        if sees_assessments(self.context):
            return values
        hidden = RULE_KEYS | (ENGINE_KEYS if self._redacted(event) else frozenset())
        return {k: v for k, v in values.items() if k not in hidden}


class CaseClientSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    status = serializers.CharField()
    currency = serializers.CharField()
    language = serializers.CharField()
    available = MoneyField()
    held = MoneyField()


# --- approvals and actions ----------------------------------------------------------------------


class ApprovalSerializer(serializers.Serializer):
    """A four-eyes approval. A snoozed rule's name in ``params`` is left out for support."""

    id = serializers.UUIDField(source="public_id")
    case = serializers.IntegerField(source="case_id")
    client = serializers.IntegerField(source="case.client_id")
    action = serializers.CharField()
    params = serializers.SerializerMethodField()
    status = serializers.CharField()
    previous_status = serializers.CharField()
    requested_by = CasePersonSerializer()
    requested_comment = serializers.CharField()
    requested_at = serializers.DateTimeField()
    decided_by = CasePersonSerializer(allow_null=True)
    decided_comment = serializers.CharField()
    decided_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.DictField())
    def get_params(self, approval: Any) -> dict[str, Any]:
        params = dict(approval.params)
        if not sees_assessments(self.context):
            params.pop("snooze_rule", None)
        return params


class CaseDetailSerializer(serializers.Serializer):
    """``aml.cases.api.views.case_detail_data``'s dict: the case and everything about it."""

    case = CaseSerializer()
    client = CaseClientSerializer()
    assessments = CaseAssessmentSerializer(many=True)
    holds = CaseHoldSerializer(many=True)
    deposits = CaseDepositSerializer(many=True)
    payouts = CasePayoutSerializer(many=True)
    document_requests = CaseDocumentRequestSerializer(many=True)
    documents = CaseDocumentSerializer(many=True)
    statements = CaseStatementSerializer(many=True)
    approvals = ApprovalSerializer(many=True, help_text="Every four-eyes approval, pending or decided.")
    events = CaseEventSerializer(many=True)


class ActionResultSerializer(serializers.Serializer):
    """What an action or a decision left: the case as it is now, and the approval it waits for."""

    case = CaseSerializer()
    pending = serializers.BooleanField(help_text="True: nothing moved; a second lead must approve.")
    approval = ApprovalSerializer(allow_null=True)


class ActionBodySerializer(serializers.Serializer):
    """Every parameter an action may take; the view passes on only those its action accepts (any
    other field is refused). The services check the values (comment, amount, items, due date)."""

    comment = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    amount = MoneyField(required=False, allow_null=True, help_text="In the client's currency.")
    items = serializers.ListField(child=serializers.CharField(), required=False)
    due_on = serializers.DateField(required=False)
    hold = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1)
    destination = serializers.CharField(required=False, allow_null=True, max_length=100)
    network = serializers.CharField(required=False, allow_null=True, max_length=40)
    snooze_rule = serializers.CharField(required=False, allow_blank=True, max_length=40)
    snooze_until = serializers.DateField(required=False, allow_null=True)
    assignee = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1)


class DecideBodySerializer(serializers.Serializer):
    approve = serializers.BooleanField()
    comment = serializers.CharField(allow_blank=True, trim_whitespace=False)
