"""Site-wide views: the landing page and a 404 that speaks the API's envelope under /api/.

The landing page is a client's overview (balance, a "Top up" button, links to history); staff get
a link to the administration and anonymous visitors a link to log in.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def home(request: HttpRequest) -> HttpResponse:
    balance = None
    profile = getattr(request.user, "client_profile", None)
    if profile is not None:
        from payments.selectors.ledger import balance_get

        balance = balance_get(client=profile)
    return render(request, "home.html", {"balance": balance})


def not_found(request: HttpRequest, exception: Any = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        body = {"error": {"code": "not_found", "message": "Not found.", "fields": {}}}
        return JsonResponse(body, status=404)
    return render(request, "404.html", status=404)
