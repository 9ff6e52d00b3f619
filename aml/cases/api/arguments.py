"""From an action's JSON body to the keyword arguments of its service (``aml.cases.actions``).

One endpoint serves every action, so the fields an action takes are read from its service's own
signature (``inspect.signature``): a field the action does not take is refused (400
``invalid_input``, field code ``unexpected_field``) rather than silently ignored, and a required
parameter left out is a field error ``required`` (the comment excepted: the service answers
``comment_required`` itself, the code the contract gives). Ids become objects here, scoped to the
case: a hold of another client is not found, an unknown network or assignee is a field error. The
values themselves (amount, items, due date, snooze) are checked by the services.

An action whose service takes a ``request_key`` (a release) also gets the request's
``Idempotency-Key``, scoped to the person: the service then remembers it in the case's trail, so a
retried release moves money once even if the API's replay cache (``idempotency``) lost the key.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from aml.cases.models import Case
from nexora.accounts.models import User
from nexora.common.errors import NotFound, ValidationFailed
from payments.models import Hold, Network

_CONTEXT = {"case", "actor", "request_key"}  # request_key comes from the Idempotency-Key header


def _field(name: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={name: [{"code": code, "message": message}]})


def _hold(case: Case, value: Any) -> Hold | None:
    if value is None:
        return None
    hold = Hold.objects.filter(pk=value, client_id=case.client_id).first()
    if hold is None:
        raise NotFound("No such hold on this case.")
    return hold


def _network(case: Case, value: Any) -> Network | None:
    if value is None:
        return None
    network = Network.objects.filter(code=value).first()
    if network is None:
        raise _field("network", "unknown_network", "No such network.")
    return network


def _assignee(case: Case, value: Any) -> User | None:
    if value is None:
        return None
    user = User.objects.filter(pk=value, is_staff=True, is_active=True).first()
    if user is None:
        raise _field("assignee", "invalid_assignee", "Cases can only be assigned to staff who work them.")
    return user


_OBJECTS: dict[str, Callable[[Case, Any], Any]] = {"hold": _hold, "network": _network, "assignee": _assignee}


def _parameters(action: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    params = inspect.signature(action).parameters
    return {name: p for name, p in params.items() if name not in _CONTEXT}


def action_kwargs(
    action: Callable[..., Any],
    *,
    case: Case,
    given: Mapping[str, Any],
    data: Mapping[str, Any],
    request_key: str = "",
) -> dict[str, Any]:
    """The service's keyword arguments: ``given`` is the raw body (its keys), ``data`` the parsed one."""
    params = _parameters(action)
    extra = {"request_key": request_key} if request_key and _takes_request_key(action) else {}
    unexpected = sorted(set(given) - set(params))
    if unexpected:
        message = "This action does not take this field."
        raise ValidationFailed(
            "Some fields are not taken by this action.",
            fields={name: [{"code": "unexpected_field", "message": message}] for name in unexpected},
        )
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty and n not in data]
    kwargs = {"comment": ""} if "comment" in missing else {}
    missing = [n for n in missing if n != "comment"]
    if missing:
        raise ValidationFailed(fields={n: [{"code": "required", "message": "This field is required."}]
                                       for n in missing})  # fmt: skip
    for name in params:
        if name in data:
            convert = _OBJECTS.get(name)
            kwargs[name] = convert(case, data[name]) if convert else data[name]
    return {**kwargs, **extra}


def _takes_request_key(action: Callable[..., Any]) -> bool:
    return "request_key" in inspect.signature(action).parameters
