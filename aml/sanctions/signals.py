"""``sanctions_listed``: sent after an import that made addresses sanctioned, once it has committed.

Receivers (the AML engine re-screens the last 90 days of deposits from these addresses) get:

* ``import_id``: the ``SanctionsImport`` primary key;
* ``added``: a sorted tuple of distinct ``(family, canonical address)`` pairs that had **no**
  active listing from any source before this import and have one now (new designations and
  re-listings). An address already listed elsewhere that merely gains another listing is not
  repeated: nothing about it changes for screening.

It is sent through ``transaction.on_commit``, so a rolled-back import never announces anything,
and a receiver sees the committed rows. Django calls receivers synchronously; a receiver with
heavy work should queue a task with the pairs rather than do it inline.
"""

from __future__ import annotations

from django.dispatch import Signal

sanctions_listed = Signal()
