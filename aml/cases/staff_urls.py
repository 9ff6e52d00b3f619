"""Routes of the staff dashboard (namespace ``staff``), under ``/staff/``: the case queue, case
pages and their actions, approvals, rule sets and network health. The Django admin stays for raw
data only."""

from django.urls import path

from aml import staff_rules_views as rules
from aml.cases import staff_views as views

app_name = "staff"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("next/", views.queue_next, name="queue-next"),
    path("cases/<int:case_id>/", views.case_detail, name="case"),
    path("cases/<int:case_id>/actions/<str:name>/", views.case_action, name="case-action"),
    path("cases/<int:case_id>/file.json", views.case_file_json, name="case-file-json"),
    path("cases/<int:case_id>/file.html", views.case_file_html, name="case-file-html"),
    path("approvals/", views.approvals, name="approvals"),
    path("approvals/<str:approval_id>/", views.approval_decide_view, name="approval-decide"),
    path("approvals/payouts/<str:payout_id>/<str:decision>/", views.payout_decide, name="payout-decide"),
    path("health/", views.health, name="health"),
    path("rules/", rules.rulesets, name="rules"),
    path("rules/new/", rules.draft_create, name="ruleset-new"),
    path("rules/<int:version>/", rules.ruleset_detail, name="ruleset"),
    path("rules/<int:version>/edit/", rules.draft_update, name="ruleset-edit"),
    path("rules/<int:version>/backtest/", rules.backtest, name="ruleset-backtest"),
    path("rules/<int:version>/publish/", rules.publish, name="ruleset-publish"),
]
