"""``system_account`` remembers each system account per process, but only once it was committed."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from payments.models import LedgerAccount
from payments.services.ledger import system_account

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


def test_a_committed_account_is_remembered_and_a_rolled_back_one_is_not(
    django_capture_on_commit_callbacks: Any, django_assert_num_queries: Any
) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(Boom),
        transaction.atomic(),
    ):
        system_account("deposits", "EUR")  # created, then rolled back with the posting
        raise Boom
    assert callbacks == []
    assert not LedgerAccount.objects.filter(system_code="deposits", currency="EUR").exists()

    with django_capture_on_commit_callbacks(execute=True):
        first = system_account("deposits", "EUR")
    with django_assert_num_queries(0):
        again = system_account("deposits", "EUR")

    assert again is first
    assert list(LedgerAccount.objects.filter(system_code="deposits", currency="EUR")) == [first]
