"""The client-area pages: inbox, settings, the header's count; who may see them; CSRF; EN/RU/UK."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aml.notifications.models import Notification, TelegramLinkCode, link_code_hash
from aml.notifications.services import notification_send
from nexora.accounts.models import ClientProfile
from nexora.accounts.roles import STAFF_ROLES
from tests.notifications.conftest import BOT_USERNAME

pytestmark = pytest.mark.django_db

GET_PAGES = ["/notifications/", "/notifications/settings/"]
POST_PAGES = [
    "/notifications/read-all/",
    "/notifications/1/read/",
    "/notifications/settings/",
    "/notifications/settings/telegram/link/",
    "/notifications/settings/telegram/unlink/",
]


def text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def tell(client: ClientProfile, count: int, event: str = "topup_credited") -> list[Notification]:
    made = []
    for i in range(count):
        n = notification_send(client=client, event=event, params={"amount": f"{i + 1}.00", "currency": "USD"},
                              dedupe_key=f"deposit:{i}")  # fmt: skip
        Notification.objects.filter(pk=n.pk).update(created_at=timezone.now() - timedelta(minutes=count - i))
        made.append(n)
    return made


@pytest.fixture
def me(make_subscriber, client):
    profile = make_subscriber(email="me@example.com")
    client.force_login(profile.user)
    return profile


# --- who may see what -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", GET_PAGES + POST_PAGES)
def test_anonymous_visitors_are_sent_to_log_in(client, path):
    response = client.post(path) if path in POST_PAGES and path not in GET_PAGES else client.get(path)
    assert response.status_code == 302 and response["Location"].startswith(f"/accounts/login/?next={path}")


@pytest.mark.parametrize("role", STAFF_ROLES)
@pytest.mark.parametrize("path", GET_PAGES)
def test_staff_have_no_inbox(client, make_staff, role, path):
    client.force_login(make_staff(role))
    assert client.get(path).status_code == 403


def test_staff_cannot_post_either(client, make_staff, make_subscriber):
    someone = make_subscriber(chat="4242")
    [n] = tell(someone, 1)
    client.force_login(make_staff("admin"))
    for path in POST_PAGES:
        assert client.post(path.replace("/1/", f"/{n.pk}/")).status_code == 403
    n.refresh_from_db()
    assert n.read_at is None and ClientProfile.objects.get(pk=someone.pk).telegram_chat_id == "4242"


def test_another_clients_notification_is_a_404_and_stays_unread(client, me, make_subscriber):
    [theirs] = tell(make_subscriber(), 1)
    assert client.post(f"/notifications/{theirs.pk}/read/").status_code == 404
    assert client.post("/notifications/99999999/read/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_forms_need_the_csrf_token(me):
    [n] = tell(me, 1)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(me.user)
    for path in (f"/notifications/{n.pk}/read/", "/notifications/read-all/", "/notifications/settings/"):
        assert strict.post(path, {"notify_email": ""}).status_code == 403
    n.refresh_from_db()
    me.refresh_from_db()
    assert n.read_at is None and me.notify_email is True
    page = strict.get("/notifications/").content.decode()
    assert page.count('name="csrfmiddlewaretoken"') == page.count("<form")  # every form carries it


# --- the inbox ------------------------------------------------------------------------------------


def test_inbox_is_newest_first_paginated_and_in_the_page_language(client, me):
    tell(me, 23)
    page1 = text(client.get("/notifications/"))
    assert page1.count("Your top-up has been credited") == 20
    assert page1.index("Amount 23.00 USD") < page1.index("Amount 22.00 USD")
    assert "Amount 3.00 USD" not in page1 and "Page 1 of 2" in page1 and "Unread: 23" in page1
    page2 = text(client.get("/notifications/?page=2"))
    assert page2.count("Your top-up has been credited") == 3 and "Amount 1.00 USD" in page2
    client.cookies["nexora_lang"] = "uk"
    ukrainian = text(client.get("/notifications/"))
    assert "Поповнення зараховано" in ukrainian and "Сума 23.00 USD" in ukrainian
    assert "Непрочитаних: 23" in ukrainian and "Позначити всі як прочитані" in ukrainian


def test_mark_one_then_all_read(client, me):
    first, second, _third = tell(me, 3)
    response = client.post(f"/notifications/{second.pk}/read/", {"page": "1"})
    assert response.status_code == 302 and response["Location"] == "/notifications/"
    assert list(Notification.objects.filter(read_at__isnull=False).values_list("pk", flat=True)) == [
        second.pk
    ]
    assert (
        client.post(f"/notifications/{first.pk}/read/", {"page": "2"})["Location"] == "/notifications/?page=2"
    )
    read_at = Notification.objects.get(pk=second.pk).read_at
    client.post(f"/notifications/{second.pk}/read/")  # again: unchanged
    assert Notification.objects.get(pk=second.pk).read_at == read_at
    response = client.post("/notifications/read-all/", follow=True)
    assert "All notifications are marked as read." in text(response)
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    assert "Mark all as read" not in text(response)


def test_an_empty_inbox(client, me):
    assert "You have no notifications yet." in text(client.get("/notifications/"))


def test_the_header_shows_the_unread_count_with_one_count_query(client, me):
    tell(me, 4)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/")
    counts = [q["sql"] for q in queries.captured_queries if "notifications_notification" in q["sql"]]
    assert len(counts) == 1 and "COUNT(" in counts[0].upper()
    assert re.search(
        r'Notifications <span class="nav-count">.*?Unread: 4.*?>4</span>', response.content.decode()
    )
    Notification.objects.update(read_at=timezone.now())
    assert 'class="nav-count"' not in client.get("/").content.decode()


def test_the_header_count_is_only_for_clients(client, make_staff):
    with CaptureQueriesContext(connection) as queries:
        client.get("/")
    assert not [q for q in queries.captured_queries if "notifications_notification" in q["sql"]]
    client.force_login(make_staff("support"))
    with CaptureQueriesContext(connection) as queries:
        body = client.get("/").content.decode()
    assert not [q for q in queries.captured_queries if "notifications_notification" in q["sql"]]
    assert "nav-count" not in body


# --- settings -------------------------------------------------------------------------------------


def test_email_can_be_turned_off_and_on(client, me):
    response = client.post("/notifications/settings/", {}, follow=True)
    assert "Your notification settings have been saved." in text(response)
    me.refresh_from_db()
    assert me.notify_email is False
    client.post("/notifications/settings/", {"notify_email": "on"})
    me.refresh_from_db()
    assert me.notify_email is True


def test_without_an_address_email_cannot_be_chosen(client, make_subscriber):
    profile = make_subscriber(email="")
    client.force_login(profile.user)
    page = client.get("/notifications/settings/").content.decode()
    assert re.search(r'name="notify_email" checked disabled', page)
    assert "Your account has no e-mail address" in page
    client.post("/notifications/settings/", {})
    profile.refresh_from_db()
    assert profile.notify_email is True  # kept: the page could not offer the choice


def test_linking_telegram_shows_a_one_time_code_and_deep_link(client, me, bot):
    assert f"receive notifications from our bot @{BOT_USERNAME}" in text(
        client.get("/notifications/settings/")
    )
    response = client.post("/notifications/settings/telegram/link/")
    assert response.status_code == 200
    body = response.content.decode()
    found = re.search(r'<span class="link-code" id="link-code">/start ([\w-]+)</span>', body)
    assert found is not None
    code = found[1]
    assert f'href="https://t.me/{BOT_USERNAME}?start={code}"' in body
    assert "The code is valid for 15 minutes and can be used once." in text(response)
    row = TelegramLinkCode.objects.get(client=me)
    assert row.code_hash == link_code_hash(code)


def test_linked_chat_can_be_muted_and_unlinked(client, make_subscriber, bot):
    profile = make_subscriber(chat="4242")
    client.force_login(profile.user)
    client.cookies["nexora_lang"] = "ru"
    page = text(client.get("/notifications/settings/"))
    assert "Ваш чат Telegram привязан." in page and "Отправлять уведомления в Telegram" in page
    client.post("/notifications/settings/", {"notify_telegram": ""})
    profile.refresh_from_db()
    assert (profile.telegram_chat_id, profile.notify_telegram) == ("4242", False)
    response = client.post("/notifications/settings/telegram/unlink/", follow=True)
    assert "Telegram отвязан." in text(response)
    profile.refresh_from_db()
    assert (profile.telegram_chat_id, profile.notify_telegram) == ("", False)
    client.post("/notifications/settings/", {"notify_telegram": "on"})  # nothing linked: stays off
    profile.refresh_from_db()
    assert profile.notify_telegram is False


def test_without_a_bot_telegram_is_not_offered(client, me, settings):
    settings.NEXORA_TELEGRAM_BOT_TOKEN = ""
    assert "Telegram notifications are not available." in text(client.get("/notifications/settings/"))
    response = client.post("/notifications/settings/telegram/link/")
    assert response.status_code == 409 and "Telegram notifications are not available." in text(response)
    assert TelegramLinkCode.objects.count() == 0


@pytest.mark.parametrize(
    ("lang", "heading"), [("en", "Notification settings"), ("ru", "Настройки уведомлений"),
                          ("uk", "Налаштування сповіщень")]
)  # fmt: skip
def test_settings_page_in_each_language(client, me, lang, heading):
    client.cookies["nexora_lang"] = lang
    assert f"<h1>{heading}</h1>" in client.get("/notifications/settings/").content.decode()
