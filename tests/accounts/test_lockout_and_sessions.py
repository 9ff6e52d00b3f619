"""Staff login lockout after repeated failures, and the staff session timeouts."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from nexora.accounts.middleware import SESSION_SEEN, SESSION_STARTED
from nexora.accounts.models import SecurityEvent
from nexora.accounts.security import SecurityKind, login_locked

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(make_staff):
    user = make_staff("compliance_officer")
    user.set_password("right-pw-123")
    user.save()
    return user


def attempt(web: Client, username: str, password: str) -> int:
    return web.post("/accounts/login/", {"username": username, "password": password}).status_code


def kinds(user: Any) -> list[str]:
    return list(SecurityEvent.objects.filter(user=user).order_by("id").values_list("kind", flat=True))


def test_staff_are_locked_out_after_n_failures_even_with_the_right_password(staff, settings):
    settings.NEXORA_LOCKOUT_FAILURES = 3
    web = Client()
    assert [attempt(web, staff.username, "wrong") for _ in range(3)] == [200, 200, 200]
    assert login_locked(staff)
    page = web.post("/accounts/login/", {"username": staff.username, "password": "right-pw-123"})
    assert page.status_code == 200 and "locked" in page.content.decode()
    assert "_auth_user_id" not in web.session
    assert attempt(Client(), staff.username, "right-pw-123") == 200  # another browser: same lockout
    events = kinds(staff)
    assert events.count(SecurityKind.LOGIN_FAILED) == 3
    assert events.count(SecurityKind.LOCKOUT) == 1
    assert events.count(SecurityKind.LOGIN_LOCKED) == 2
    assert SecurityKind.LOGIN_SUCCEEDED not in events


def test_the_admin_login_form_is_locked_too(staff, settings):
    settings.NEXORA_LOCKOUT_FAILURES = 2
    web = Client()
    for _ in range(2):
        web.post("/admin/login/", {"username": staff.username, "password": "wrong"})
    response = web.post(
        "/admin/login/?next=/admin/", {"username": staff.username, "password": "right-pw-123"}
    )
    assert response.status_code == 200 and "_auth_user_id" not in web.session


def test_the_lockout_ends_when_the_failures_leave_the_window(staff, settings):
    settings.NEXORA_LOCKOUT_FAILURES, settings.NEXORA_LOCKOUT_WINDOW_S = 3, 900
    old = timezone.now() - timedelta(seconds=901)
    for _ in range(3):
        SecurityEvent.objects.create(user=staff, kind=SecurityKind.LOGIN_FAILED, created_at=old)
    assert not login_locked(staff)
    assert attempt(Client(), staff.username, "right-pw-123") == 302


def test_a_successful_login_resets_the_count(staff, settings):
    settings.NEXORA_LOCKOUT_FAILURES = 3
    web = Client()
    attempt(web, staff.username, "wrong")
    attempt(web, staff.username, "wrong")
    assert attempt(web, staff.username, "right-pw-123") == 302
    attempt(Client(), staff.username, "wrong")
    attempt(Client(), staff.username, "wrong")
    assert not login_locked(staff)


def test_an_admin_clears_a_lockout(staff, make_staff, settings):
    settings.NEXORA_LOCKOUT_FAILURES = 2
    for _ in range(2):
        attempt(Client(), staff.username, "wrong")
    assert login_locked(staff)
    admin_web = Client()
    admin_user = make_staff("admin")
    admin_user.is_superuser = True
    admin_user.save()
    admin_web.force_login(admin_user)
    response = admin_web.post(
        "/admin/accounts/user/", {"action": "clear_lockout", "_selected_action": [staff.pk]}
    )
    assert response.status_code == 302
    assert not login_locked(staff)
    assert attempt(Client(), staff.username, "right-pw-123") == 302
    assert SecurityKind.LOCKOUT_CLEARED in kinds(staff)
    assert SecurityEvent.objects.get(user=admin_user, kind=SecurityKind.STAFF_ACTION).detail == (
        f"cleared lockout of user {staff.pk}"
    )


def test_clients_are_never_locked_out(client_profile, settings):
    settings.NEXORA_LOCKOUT_FAILURES = 2
    web = Client()
    for _ in range(5):
        attempt(web, client_profile.user.username, "wrong")
    assert attempt(web, client_profile.user.username, "pw-123456") == 302


# --- staff session timeout -----------------------------------------------------------------------


def aged(web: Client, **seconds_ago: float) -> None:
    session = web.session
    now = time.time()
    for key, ago in seconds_ago.items():
        session[{"started": SESSION_STARTED, "seen": SESSION_SEEN}[key]] = now - ago
    session.save()


def test_an_idle_staff_session_times_out(make_staff, settings):
    settings.NEXORA_STAFF_SESSION_IDLE_S = 600
    user = make_staff("support")
    web = Client()
    web.force_login(user)
    page = "/staff/privacy/erasures/"
    assert web.get(page).status_code == 200
    aged(web, seen=599)
    assert web.get(page).status_code == 200  # still inside the idle timeout
    aged(web, seen=601)
    response = web.get(page)
    assert response.status_code == 302 and response["Location"] == f"/accounts/login/?next={page}"
    assert "_auth_user_id" not in web.session
    assert web.get(page)["Location"].startswith("/accounts/login/")
    assert kinds(user)[-1] == SecurityKind.SESSION_EXPIRED


def test_a_staff_session_ends_after_its_maximum_age_even_when_active(make_staff, client_profile, settings):
    settings.NEXORA_STAFF_SESSION_MAX_S = 3600
    user = make_staff("support")
    web = Client()
    web.force_login(user)
    aged(web, started=3601, seen=5)
    response = web.get(f"/api/v1/staff/clients/{client_profile.pk}/balance/")
    assert response.status_code == 401 and response.json()["error"]["code"] == "session_expired"


def test_the_idle_timer_restarts_on_activity(make_staff, settings):
    settings.NEXORA_STAFF_SESSION_IDLE_S = 600
    web = Client()
    web.force_login(make_staff("support"))
    aged(web, seen=300)
    web.get("/staff/privacy/erasures/")
    assert time.time() - web.session[SESSION_SEEN] < 5
    assert web.session.get_expiry_age() == 600


def test_client_sessions_have_no_staff_timeout(client_profile, settings):
    settings.NEXORA_STAFF_SESSION_IDLE_S = 1
    web = Client()
    web.force_login(client_profile.user)
    aged(web, started=10_000, seen=10_000)
    assert web.get("/topups/").status_code == 200
