"""Serializers for assessments (staff only): render, never parse into a model."""

from __future__ import annotations

from rest_framework import serializers

from aml.models import Assessment, RuleOutcome


class RuleOutcomeSerializer(serializers.ModelSerializer):
    class Meta:
        model = RuleOutcome
        fields = ["rule", "outcome", "points", "snoozed", "reason", "data"]


class AssessmentSerializer(serializers.ModelSerializer):
    client = serializers.IntegerField(source="client_id")
    ruleset_version = serializers.IntegerField(source="ruleset.version")
    outcomes = RuleOutcomeSerializer(many=True)

    class Meta:
        model = Assessment
        fields = [
            "id",
            "subject_type",
            "subject_ref",
            "client",
            "ruleset_version",
            "trigger",
            "amount",
            "currency",
            "score",
            "decision",
            "sanctions_hit",
            "summary",
            "created_at",
            "outcomes",
        ]
