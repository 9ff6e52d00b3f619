"""Rule sets: the seeded version 1, drafts, validation, four-eyes publishing, immutability (model
layer and PostgreSQL), diffs, and the engine picking up a newly published version."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from aml.engine import features_for
from aml.models import RuleSet, RuleSetEdit
from aml.params import default_params, params_parse
from aml.rules.base import DEPOSIT, Subject
from aml.rulesets import (
    ruleset_diff,
    ruleset_draft_create,
    ruleset_draft_update,
    ruleset_publish,
    ruleset_seed_default,
)
from nexora.accounts.roles import COMPLIANCE_LEAD, COMPLIANCE_OFFICER, SUPPORT
from nexora.common.errors import Conflict, PermissionDenied, ValidationFailed
from nexora.common.models import AppendOnlyError, StatusChange

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(make_staff):
    return {role: make_staff(role) for role in (SUPPORT, COMPLIANCE_OFFICER, COMPLIANCE_LEAD)} | {
        "lead2": make_staff(COMPLIANCE_LEAD)
    }


def v1() -> RuleSet:
    ruleset_seed_default()  # version 1 again if a transactional test flushed it
    return RuleSet.objects.get(version=1)


def test_version_1_is_seeded_published_and_system_authored():
    seed = v1()
    assert (seed.status, seed.created_by, seed.published_by) == ("published", None, None)
    assert seed.params == default_params()
    parsed = params_parse(seed.params)
    assert (parsed.review, parsed.freeze) == (40, 100)
    assert (parsed.kyc["basic"].per_topup, parsed.kyc["full"].per_topup) == (Decimal("10000.00"), None)


def test_drafts_are_edited_by_compliance_and_every_edit_is_recorded(staff):
    draft = ruleset_draft_create(actor=staff[COMPLIANCE_OFFICER])
    officer = staff[COMPLIANCE_OFFICER]
    assert (draft.version, draft.status, draft.based_on_id, draft.created_by) == (
        2,
        "draft",
        v1().pk,
        officer,
    )
    with pytest.raises(PermissionDenied):
        ruleset_draft_create(actor=staff[SUPPORT])
    change = {"bands": {"review": 35}, "rules": {"velocity": {"multiple": "2.5"}}}
    ruleset_draft_update(ruleset=draft, actor=officer, params=change)
    draft.refresh_from_db()
    assert draft.params["bands"] == {"review": 35, "freeze": 100}
    assert draft.params["rules"]["velocity"]["multiple"] == "2.5"
    edit = RuleSetEdit.objects.get(ruleset=draft)
    assert (edit.actor, edit.changes) == (staff[COMPLIANCE_OFFICER], [
        {"path": "bands.review", "before": 40, "after": 35},
        {"path": "rules.velocity.multiple", "before": "3", "after": "2.5"},
    ])  # fmt: skip
    assert ruleset_diff(draft=draft) == edit.changes


@pytest.mark.parametrize(
    ("change", "path", "code"),
    [
        ({"rules": {"velocity": {"multiple": 2.5}}}, "rules.velocity.multiple", "invalid_parameter"),
        ({"rules": {"velocity": {"points": "25"}}}, "rules.velocity.points", "invalid_parameter"),
        ({"rules": {"velocity": {"speed": 1}}}, "rules.velocity.speed", "unknown_parameter"),
        ({"rules": {"telepathy": {"points": 1}}}, "rules.telepathy", "unknown_parameter"),
        (
            {"rules": {"sanctions_list": {"enabled": False}}},
            "rules.sanctions_list.enabled",
            "invalid_parameter",
        ),
        ({"bands": {"review": 100}}, "bands.freeze", "invalid_parameter"),
        ({"kyc": {"basic": {"per_topup": "30000.00"}}}, "kyc.basic.per_topup", "invalid_parameter"),
        ({"kyc": {"basic": {"per_topup": "-1"}}}, "kyc.basic.per_topup", "invalid_parameter"),
    ],
)
def test_an_invalid_edit_names_the_parameter_and_writes_nothing(staff, change, path, code):
    draft = ruleset_draft_create(actor=staff[COMPLIANCE_OFFICER])
    before = dict(draft.params)
    with pytest.raises(ValidationFailed) as exc:
        ruleset_draft_update(ruleset=draft, actor=staff[COMPLIANCE_OFFICER], params=change)
    assert exc.value.code == "invalid_ruleset"
    assert [item["code"] for item in exc.value.fields[path]] == [code]
    draft.refresh_from_db()
    assert draft.params == before and not RuleSetEdit.objects.exists()


def test_four_eyes_the_author_an_editor_and_an_officer_cannot_publish(staff):
    draft = ruleset_draft_create(actor=staff[COMPLIANCE_LEAD])
    ruleset_draft_update(ruleset=draft, actor=staff["lead2"], params={"bands": {"review": 45}})
    refusals = [(COMPLIANCE_OFFICER, "permission_denied"), (COMPLIANCE_LEAD, "four_eyes_required"),
                ("lead2", "four_eyes_required")]  # fmt: skip
    for role, code in refusals:
        actor = staff[role]
        with pytest.raises(PermissionDenied) as exc:
            ruleset_publish(ruleset=draft, actor=actor)
        assert exc.value.code == code
    draft.refresh_from_db()
    assert draft.status == "draft" and v1().status == "published"
    third = ruleset_draft_create(actor=staff[COMPLIANCE_OFFICER])  # a lead who wrote none of ``third``
    published = ruleset_publish(ruleset=third, actor=staff[COMPLIANCE_LEAD])
    assert (published.status, published.published_by, published.version) == (
        "published",
        staff[COMPLIANCE_LEAD],
        3,
    )
    assert v1().status == "retired"
    changes = StatusChange.objects.filter(entity="ruleset").order_by("id")
    moves = list(changes.values_list("entity_id", "from_status", "to_status"))
    assert moves == [(str(v1().pk), "published", "retired"), (str(third.pk), "draft", "published")]


def test_a_draft_based_on_a_retired_version_cannot_be_published(staff):
    first = ruleset_draft_create(actor=staff[COMPLIANCE_OFFICER])
    second = ruleset_draft_create(actor=staff[COMPLIANCE_OFFICER])
    ruleset_publish(ruleset=first, actor=staff[COMPLIANCE_LEAD])
    with pytest.raises(Conflict) as exc:
        ruleset_publish(ruleset=second, actor=staff[COMPLIANCE_LEAD])
    assert exc.value.code == "ruleset_stale"
    with pytest.raises(Conflict) as edit:
        ruleset_draft_update(ruleset=first, actor=staff[COMPLIANCE_OFFICER], params={"bands": {"review": 30}})
    assert edit.value.code == "ruleset_not_draft"


def test_a_published_rule_set_is_immutable_in_the_model_layer():
    seed = v1()
    seed.params = {"bands": {"review": 1}}
    with pytest.raises(AppendOnlyError):
        seed.save()
    with pytest.raises(AppendOnlyError):
        RuleSet.objects.filter(pk=seed.pk).update(params={})
    with pytest.raises(AppendOnlyError):
        RuleSet.objects.filter(pk=seed.pk).delete()
    assert RuleSet.objects.get(pk=seed.pk).params == default_params()


@pytest.mark.postgres
def test_a_published_rule_set_is_immutable_in_postgresql():
    seed = v1()
    for sql in (
        "UPDATE aml_ruleset SET params = '{}'::jsonb WHERE id = %s",
        "UPDATE aml_ruleset SET published_by_id = NULL, notes = 'edited' WHERE id = %s",
        "DELETE FROM aml_ruleset WHERE id = %s",
    ):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [seed.pk])
    with transaction.atomic(), connection.cursor() as cursor:  # retiring is the one change allowed
        cursor.execute("UPDATE aml_ruleset SET status = 'retired' WHERE id = %s", [seed.pk])
        with pytest.raises(IntegrityError), transaction.atomic():
            cursor.execute("UPDATE aml_ruleset SET status = 'published' WHERE id = %s", [seed.pk])
        transaction.set_rollback(True)
    assert RuleSet.objects.get(pk=seed.pk).params == default_params()


@pytest.mark.postgres
def test_the_database_refuses_a_publisher_who_is_the_author(staff):
    draft = ruleset_draft_create(actor=staff[COMPLIANCE_LEAD])
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE aml_ruleset SET published_by_id = created_by_id WHERE id = %s", [draft.pk])


def test_the_engine_uses_a_newly_published_version(staff, make_client):
    client_id = make_client().pk
    subject = Subject(type=DEPOSIT, ref="deposit:0", client_id=client_id, at=timezone.now(), currency="USD")
    assert features_for(subject=subject)[1].version == 1
    draft = ruleset_draft_create(actor=staff[COMPLIANCE_OFFICER])
    ruleset_draft_update(ruleset=draft, actor=staff[COMPLIANCE_OFFICER], params={"bands": {"review": 30}})
    ruleset_publish(ruleset=draft, actor=staff[COMPLIANCE_LEAD])
    _, compiled = features_for(subject=subject)  # the cache noticed the new version through the history query
    assert (compiled.id, compiled.version, compiled.params.review) == (draft.pk, 2, 30)
