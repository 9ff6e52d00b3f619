"""Admin: the engine's records are read only (rule sets change through ``aml.rulesets``, levels
through ``aml.kyc``, snoozes through ``aml.snooze``; assessments never change)."""

from django.contrib import admin

from aml.models import Assessment, ClientVerification, RuleOutcome, RuleSet, RuleSetEdit, RuleSnooze
from nexora.common.admin_base import ReadOnlyAdmin


@admin.register(RuleSet)
class RuleSetAdmin(ReadOnlyAdmin):
    list_display = ["version", "status", "created_by", "published_by", "published_at", "based_on"]
    list_filter = ["status"]


@admin.register(RuleSetEdit)
class RuleSetEditAdmin(ReadOnlyAdmin):
    list_display = ["ruleset", "actor", "created_at"]


class OutcomeInline(admin.TabularInline):
    model = RuleOutcome
    extra = 0
    can_delete = False
    readonly_fields = ["position", "rule", "outcome", "points", "snoozed", "reason", "data"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Assessment)
class AssessmentAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "subject_ref",
        "client",
        "decision",
        "score",
        "sanctions_hit",
        "trigger",
        "created_at",
    ]
    list_filter = ["decision", "subject_type", "trigger", "sanctions_hit"]
    search_fields = ["subject_ref"]
    inlines = [OutcomeInline]


@admin.register(ClientVerification)
class ClientVerificationAdmin(ReadOnlyAdmin):
    list_display = ["client", "level", "updated_at"]
    list_filter = ["level"]


@admin.register(RuleSnooze)
class RuleSnoozeAdmin(ReadOnlyAdmin):
    list_display = ["client", "rule", "until", "case", "created_by", "created_at"]
    list_filter = ["rule"]
