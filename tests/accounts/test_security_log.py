"""The security log: one row per security event, with IP and user agent, append-only in the model
and in PostgreSQL, the only place an IP is stored, and visible to the client for their own account."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone

from nexora.accounts.models import SecurityEvent, User
from nexora.accounts.security import SecurityKind, security_event_log
from nexora.common.models import AppendOnlyError, append_only_purge

pytestmark = pytest.mark.django_db

UA = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"
IP = "203.0.113.7"


def browser(ip: str = IP) -> Client:
    return Client(REMOTE_ADDR=ip, HTTP_USER_AGENT=UA)


def events(**filters: object) -> list[tuple[str, str | None, str]]:
    rows = SecurityEvent.objects.filter(**filters).order_by("id")
    return [(e.kind, e.ip, e.username) for e in rows]


def test_login_success_and_failure_and_logout(client_profile):
    user = client_profile.user
    web = browser()
    assert (
        web.post("/accounts/login/", {"username": user.username, "password": "wrong-pw-x"}).status_code == 200
    )
    assert web.post("/accounts/login/", {"username": "nobody", "password": "pw-123456"}).status_code == 200
    assert (
        web.post("/accounts/login/", {"username": user.username, "password": "pw-123456"}).status_code == 302
    )
    assert web.post("/accounts/logout/").status_code == 200  # "logged out" page
    assert events() == [
        (SecurityKind.LOGIN_FAILED, IP, user.username),
        (SecurityKind.LOGIN_FAILED, IP, "nobody"),
        (SecurityKind.LOGIN_SUCCEEDED, IP, ""),
        (SecurityKind.LOGOUT, IP, ""),
    ]
    failed, unknown, ok, out = SecurityEvent.objects.order_by("id")
    assert failed.user == user and unknown.user is None and ok.user == user and out.user == user
    assert {e.user_agent for e in (failed, unknown, ok, out)} == {UA}


def test_the_password_tried_is_never_stored(client_profile):
    browser().post("/accounts/login/", {"username": client_profile.user.username, "password": "s3cret-typo"})
    row = SecurityEvent.objects.get()
    assert "s3cret-typo" not in " ".join(str(v) for v in row.__dict__.values())


def test_password_change_is_logged_once(client_profile):
    web = browser()
    web.force_login(client_profile.user)
    response = web.post(
        "/account/password/",
        {
            "old_password": "pw-123456",
            "new_password1": "A-much-longer-pw-42",
            "new_password2": "A-much-longer-pw-42",
        },
    )
    assert response.status_code == 302
    assert events(kind=SecurityKind.PASSWORD_CHANGED) == [(SecurityKind.PASSWORD_CHANGED, IP, "")]
    client_profile.user.refresh_from_db()
    assert client_profile.user.check_password("A-much-longer-pw-42")


def test_a_new_users_first_password_is_not_a_change(make_client):
    make_client()
    assert not SecurityEvent.objects.filter(kind=SecurityKind.PASSWORD_CHANGED).exists()


def test_staff_action_service_records_ip_and_agent(rf, make_staff):
    staff = make_staff("compliance_lead")
    request = rf.get("/", REMOTE_ADDR="198.51.100.4", HTTP_USER_AGENT=UA)
    event = security_event_log(
        user=staff, kind=SecurityKind.STAFF_ACTION, request=request, detail="released case 12"
    )
    assert (event.user, event.kind, event.ip, event.user_agent, event.detail) == (
        staff,
        "staff_action",
        "198.51.100.4",
        UA,
        "released case 12",
    )
    with pytest.raises(ValueError, match="snake_case"):
        security_event_log(user=staff, kind="Released Case")


def test_forwarded_for_is_used_only_behind_the_configured_proxies(rf, settings, client_profile):
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.9")
    user = client_profile.user
    assert security_event_log(user=user, kind="login_succeeded", request=request).ip == "10.0.0.2"
    settings.NEXORA_TRUSTED_PROXY_COUNT = 1  # the proxy appended the client's address last
    assert security_event_log(user=user, kind="login_succeeded", request=request).ip == "198.51.100.9"
    spoofed = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-ip")
    assert security_event_log(user=user, kind="login_succeeded", request=spoofed).ip is None


def test_admin_changes_are_staff_actions(make_staff, make_client):
    admin_user = make_staff("admin")
    target = make_client()
    web = browser()
    web.force_login(admin_user)
    form = {
        "user": target.user_id,
        "currency": "USD",
        "language": "ru",
        "telegram_chat_id": "",
        "notify_email": "on",
    }
    response = web.post(f"/admin/accounts/clientprofile/{target.pk}/change/", form)
    assert response.status_code == 302, response.content
    target.refresh_from_db()
    assert target.language == "ru"
    staff_actions = SecurityEvent.objects.filter(user=admin_user, kind=SecurityKind.STAFF_ACTION)
    assert [(e.detail, e.ip) for e in staff_actions] == [(f"admin changed clientprofile #{target.pk}", IP)]


# --- append-only ---------------------------------------------------------------------------------


def test_rows_cannot_be_changed_or_deleted_through_the_models(client_profile):
    event = security_event_log(user=client_profile.user, kind=SecurityKind.LOGIN_SUCCEEDED)
    event.detail = "edited"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        SecurityEvent.objects.filter(pk=event.pk).update(detail="edited")
    with pytest.raises(AppendOnlyError):
        SecurityEvent.objects.all().delete()
    assert SecurityEvent.objects.get().detail == ""


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE accounts_securityevent SET detail = 'x'",
        "UPDATE accounts_securityevent SET created_at = created_at - interval '2 years'",
        "DELETE FROM accounts_securityevent",
    ],
)
def test_postgres_refuses_raw_updates_and_deletes(client_profile, sql):
    security_event_log(user=client_profile.user, kind=SecurityKind.LOGIN_SUCCEEDED)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql)
    assert SecurityEvent.objects.count() == 1


@pytest.mark.postgres
def test_only_the_purge_deletes_and_only_rows_older_than_its_cutoff(client_profile):
    now = timezone.now()
    user = client_profile.user
    old = SecurityEvent.objects.create(
        user=user, kind="login_succeeded", created_at=now - timedelta(days=400)
    )
    young = SecurityEvent.objects.create(
        user=user, kind="login_succeeded", created_at=now - timedelta(days=10)
    )
    assert append_only_purge(SecurityEvent.objects.all(), before=now - timedelta(days=365)) == 1
    assert list(SecurityEvent.objects.values_list("pk", flat=True)) == [young.pk]
    assert not SecurityEvent.objects.filter(pk=old.pk).exists()
    # A session that declares a cut-off still cannot delete a row younger than it.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "SELECT set_config('nexora.purge_before', %s, true)", [(now - timedelta(days=30)).isoformat()]
        )
        cur.execute("DELETE FROM accounts_securityevent WHERE id = %s", [young.pk])
    assert SecurityEvent.objects.filter(pk=young.pk).exists()


@pytest.mark.postgres
def test_the_ledger_refuses_deletion_even_with_a_purge_cutoff(client_profile):
    from payments.models import LedgerEntry

    count = LedgerEntry.objects.count()
    assert count == 2  # the fixture's opening credit
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT set_config('nexora.purge_before', %s, true)", [timezone.now().isoformat()])
        cur.execute("DELETE FROM payments_ledgerentry")
    assert LedgerEntry.objects.count() == count


# --- minimisation --------------------------------------------------------------------------------


@pytest.mark.postgres
def test_an_ip_is_stored_only_in_the_security_log(client_profile, make_network):
    make_network("usdt-trc20")
    web = browser(ip="203.0.113.99")
    user = client_profile.user
    web.post("/accounts/login/", {"username": user.username, "password": "wrong-pw-x"})
    web.post("/accounts/login/", {"username": user.username, "password": "pw-123456"})
    web.post("/topups/new/", {"network": "usdt-trc20", "amount": "25", "form_key": "k1"})
    web.post("/account/", {"email": "new@example.com", "first_name": "A", "last_name": "B", "language": "en"})
    web.get("/account/privacy/export.json")
    with connection.cursor() as cur:
        cur.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND data_type IN ('text', 'character varying', 'inet', 'jsonb', 'json')"
        )
        columns = cur.fetchall()
        found = set()
        for table, column in columns:
            cur.execute(f'SELECT 1 FROM "{table}" WHERE "{column}"::text LIKE %s LIMIT 1', ["%203.0.113.99%"])  # noqa: S608
            if cur.fetchone():
                found.add((table, column))
    assert found == {("accounts_securityevent", "ip")}
    kinds = list(
        SecurityEvent.objects.filter(ip="203.0.113.99").order_by("id").values_list("kind", flat=True)
    )
    assert kinds == ["login_failed", "login_succeeded", "profile_changed", "data_exported"]


# --- who sees it ---------------------------------------------------------------------------------


def test_clients_see_their_own_log_only(client_profile, make_client):
    other = make_client()
    security_event_log(user=other.user, kind=SecurityKind.LOGIN_FAILED, username=other.user.username)
    web = browser()
    web.post("/accounts/login/", {"username": client_profile.user.username, "password": "pw-123456"})
    page = web.get("/account/security/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Logged in" in body and IP in body and "Failed login attempt" not in body
    assert len(page.context["rows"]) == 1


def test_staff_read_the_log_in_the_admin_and_cannot_change_it(make_staff, client_profile):
    security_event_log(user=client_profile.user, kind=SecurityKind.LOGIN_SUCCEEDED)
    lead, support = make_staff("compliance_lead"), make_staff("support")
    web = Client()
    web.force_login(lead)
    listing = web.get("/admin/accounts/securityevent/")
    assert listing.status_code == 200 and b"login_succeeded" in listing.content
    event = SecurityEvent.objects.filter(kind="login_succeeded").first()
    assert event is not None
    assert web.post(f"/admin/accounts/securityevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert web.get("/admin/accounts/securityevent/add/").status_code == 403
    web.force_login(support)  # IPs are need-to-know: support has no access
    assert web.get("/admin/accounts/securityevent/").status_code == 403


def test_user_model_is_the_projects(client_profile):
    assert isinstance(client_profile.user, User)
