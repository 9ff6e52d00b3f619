"""The staff's erasure queue: a list by due date and one page per request to execute or refuse it.

Kept deliberately small and self-contained (two templates extending ``base.html``) so the
compliance dashboard can link to it or absorb it later. Access: staff with
``privacy.view_erasurerequest`` read, ``privacy.execute_erasure`` answer; two-factor authentication
is enforced for every staff page by ``TwoFactorMiddleware``. Clients get 403.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.views.decorators.http import require_GET, require_POST

from nexora.accounts.decorators import staff_permission_required
from nexora.common.errors import NexoraError
from nexora.privacy.forms import ErasureAnswerForm
from nexora.privacy.models import ErasureRequest, ErasureStatus
from nexora.privacy.selectors import erasures_decided, erasures_pending
from nexora.privacy.services.erasure import (
    erasure_blockers,
    erasure_execute,
    erasure_preview,
    erasure_refuse,
    kept_display,
)

VIEW_PERM, EXECUTE_PERM = "privacy.view_erasurerequest", "privacy.execute_erasure"


@staff_permission_required(VIEW_PERM)
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    pending = [
        {"erasure": e, "overdue": e.due_at < now, "days_left": (e.due_at - now).days}
        for e in erasures_pending()
    ]
    return render(request, "privacy/staff_queue.html", {"pending": pending, "decided": erasures_decided()})


@staff_permission_required(VIEW_PERM)
@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    erasure = get_object_or_404(ErasureRequest.objects.select_related("client__user", "decided_by"), pk=pk)
    pending = erasure.status == ErasureStatus.PENDING
    context = {
        "erasure": erasure,
        "pending": pending,
        "kept": kept_display(erasure_preview(client=erasure.client) if pending else erasure.kept),
        "blockers": erasure_blockers(client=erasure.client) if pending else [],
        "can_answer": request.user.has_perm(EXECUTE_PERM),
        "form": ErasureAnswerForm(),
    }
    return render(request, "privacy/staff_detail.html", context)


@staff_permission_required(EXECUTE_PERM)
@require_POST
def answer(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    erasure = get_object_or_404(ErasureRequest, pk=pk)
    form = ErasureAnswerForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    service = erasure_execute if decision == "execute" else erasure_refuse
    try:
        service(erasure=erasure, actor=request.user, comment=comment, request=request)
    except NexoraError as exc:
        messages.error(request, exc.message)
    else:
        if decision == "execute":
            messages.success(request, translation.gettext("The request was executed."))
        else:
            messages.success(request, translation.gettext("The request was refused."))
    return redirect("privacy:staff-erasure", pk=pk)
