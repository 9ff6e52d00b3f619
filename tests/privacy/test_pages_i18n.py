"""The new pages speak the client's language (EN/RU/UK)."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

TEXTS = {
    "/account/security/": {"en": "Security log", "ru": "Журнал безопасности", "uk": "Журнал безпеки"},
    "/account/privacy/": {"en": "Download a copy", "ru": "Скачать копию", "uk": "Завантажити копію"},
    "/account/": {"en": "Your profile", "ru": "Ваш профиль", "uk": "Ваш профіль"},
    "/account/2fa/": {"en": "Turn on", "ru": "Включить", "uk": "Увімкнути"},
    "/account/2fa/setup/": {
        "en": "Scan this code",
        "ru": "Отсканируйте этот код",
        "uk": "Відскануйте цей код",
    },
}


@pytest.mark.parametrize("language", ["en", "ru", "uk"])
@pytest.mark.parametrize("path", list(TEXTS))
def test_client_pages_are_translated(client_profile, path, language):
    web = Client()
    web.force_login(client_profile.user)
    web.cookies["nexora_lang"] = language
    page = web.get(path)
    assert page.status_code == 200
    assert TEXTS[path][language] in page.content.decode()


@pytest.mark.parametrize(("language", "text"), [("ru", "Запросы на удаление"), ("uk", "Запити на видалення")])
def test_the_staff_queue_is_translated(make_staff, language, text):
    web = Client()
    web.force_login(make_staff("support"))
    web.cookies["nexora_lang"] = language
    assert text in web.get("/staff/privacy/erasures/").content.decode()
