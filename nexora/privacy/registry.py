"""The personal-data registry: each app declares, once, what personal data it keeps and how long.

One declaration (``category_register``) serves three purposes, so they cannot drift apart:

* **retention** (``nexora.privacy.retention``): which model, which date field starts the clock
  (``clock``, may follow relations: ``"case__closed_at"``), which period of
  ``settings.NEXORA_RETENTION_MONTHS`` applies (``period``), and what happens when it has passed
  (``action``): ``delete`` the rows, ``anonymise`` them with the category's ``anonymise`` function
  (``pending`` says which rows still need it), or ``keep`` them (rows that carry no personal data
  beyond the link to their client, like ledger entries: they stay, and the person is anonymised
  in the profile once every such row of theirs is past its period);
* **the client's copy** (``nexora.privacy.exports``): ``export(client)`` yields the rows the client
  gets, as plain mappings; ``None`` leaves the category out of the copy (AML assessments and case
  notes, invariant 8: see docs/privacy.md for the legal basis);
* **erasure** (``nexora.privacy.services.erasure``): ``on_erasure="erase"`` applies the action to the
  client's rows when an erasure request is executed; ``"keep"`` keeps them until their period ends
  and tells the client so, with ``basis`` as the reason.

``owner`` is the lookup path from the model to the ``ClientProfile`` (``"client"``,
``"account__client"``, ``"user__client_profile"``; ``""`` for the profile itself).

``disclosed=False`` keeps a category out of everything the client reads (the erasure summary's
"what is kept", the copy of their data): the AML app's assessments and cases, whose mere existence
the client must not learn from us (invariant 8). Their period still counts for how long the
person's name is kept, which the client is told without the reason.

The guarantee that financial and AML records outlive their period whatever else happens is
structural: a category under a legal period (``LEGAL_PERIODS``) cannot be erased on request, a model
registered under a legal period cannot be registered again under a shorter one, the person is
anonymised only when no legal record of theirs is still inside its period, and the ledger's tables
refuse DELETE in PostgreSQL.

Example, from the cases app's ``ready()`` (``aml.cases.privacy``)::

    category_register(
        name="aml.documents", model="cases.ClientDocument", owner="client",
        clock="case__closed_at", period="aml", action=Action.DELETE,
        title=_("Documents you sent for a review"), basis=BASIS_AML, export=document_rows,
    )

Erasure may also need to wait for something only another app knows (an open AML case):
``erasure_check_register(fn)`` adds a function ``fn(client) -> str | None`` returning the reason
(shown to staff only) why the request cannot be executed yet.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from nexora.accounts.models import ClientProfile
from nexora.common.models import AppendOnlyModel

LEGAL_PERIODS = frozenset({"financial", "aml"})
BASIS_ACCOUNTING = _("accounting and tax law")
BASIS_AML = _("anti-money-laundering law")
BASIS_SECURITY = _("the security of the service (investigating abuse of your account)")
BASIS_ACCOUNTABILITY = _("proving that we handled your request")

Row = Mapping[str, Any]
Exporter = Callable[[ClientProfile], Iterable[Row]]
Anonymiser = Callable[[models.QuerySet], int]
ErasureCheck = Callable[[ClientProfile], "str | None"]


class Action(enum.StrEnum):
    DELETE = "delete"
    ANONYMISE = "anonymise"
    KEEP = "keep"


class OnErasure(enum.StrEnum):
    KEEP = "keep"
    ERASE = "erase"


@dataclass(frozen=True)
class DataCategory:
    name: str
    model: str
    owner: str
    clock: str
    period: str
    action: Action
    title: str | Promise
    basis: str | Promise = ""
    anonymise: Anonymiser | None = None
    pending: Q | None = None
    early: Q | None = None  # rows whose period ended early (e.g. the person asked for erasure)
    waits_for_legal: bool = False  # act only when no legal record of the owner is in its period
    on_erasure: OnErasure = OnErasure.KEEP
    export: Exporter | None = None
    # False: never named to the client, not even in "what is kept" (AML assessments and cases:
    # invariant 8). The rows still keep the person attributable while inside their period.
    disclosed: bool = True

    @property
    def model_class(self) -> type[models.Model]:
        return apps.get_model(self.model)

    @property
    def months(self) -> int:
        return int(settings.NEXORA_RETENTION_MONTHS[self.period])

    @property
    def legal(self) -> bool:
        return self.period in LEGAL_PERIODS

    @property
    def owner_id_path(self) -> str:
        return f"{self.owner}__id" if self.owner else "id"

    def rows_of(self, client: ClientProfile) -> models.QuerySet:
        return self.model_class._default_manager.filter(**{self.owner_id_path: client.pk})


_categories: dict[str, DataCategory] = {}
_erasure_checks: list[ErasureCheck] = []


def _validate(category: DataCategory) -> None:
    if category.name in _categories:
        raise ValueError(f"data category {category.name!r} is already registered")
    if category.period not in settings.NEXORA_RETENTION_MONTHS:
        raise ValueError(f"{category.name}: unknown retention period {category.period!r}")
    if category.action == Action.ANONYMISE and category.anonymise is None:
        raise ValueError(f"{category.name}: action 'anonymise' needs an anonymise function")
    if category.legal and category.on_erasure == OnErasure.ERASE:
        raise ValueError(f"{category.name}: records under a legal period are kept on erasure")
    if not category.disclosed and category.export is not None:
        raise ValueError(f"{category.name}: an undisclosed category cannot be in the client's copy")
    if category.on_erasure == OnErasure.ERASE and issubclass(category.model_class, AppendOnlyModel):
        raise ValueError(f"{category.name}: append-only rows cannot be erased before their period")
    for other in (o for o in _categories.values() if o.model == category.model):
        for legal, rival in ((other, category), (category, other)):
            if legal.legal and rival.action != Action.KEEP and rival.months < legal.months:
                raise ValueError(
                    f"{rival.name}: {legal.model} is kept {legal.months} months under "
                    f"{legal.name}; a shorter period would cut that short"
                )


def category_register(**fields: Any) -> DataCategory:
    """Declare a data category (keyword arguments of ``DataCategory``); returns it."""
    fields["action"] = Action(fields["action"])
    fields["on_erasure"] = OnErasure(fields.get("on_erasure", OnErasure.KEEP))
    category = DataCategory(**fields)
    _validate(category)
    _categories[category.name] = category
    return category


def category_unregister(name: str) -> None:
    """For tests that register a category of their own."""
    _categories.pop(name, None)


def categories() -> list[DataCategory]:
    return list(_categories.values())


def category_find(name: str) -> DataCategory | None:
    return _categories.get(name)


def erasure_check_register(fn: ErasureCheck) -> None:
    if fn not in _erasure_checks:
        _erasure_checks.append(fn)


def erasure_check_unregister(fn: ErasureCheck) -> None:
    if fn in _erasure_checks:
        _erasure_checks.remove(fn)


def erasure_checks() -> list[ErasureCheck]:
    return list(_erasure_checks)
