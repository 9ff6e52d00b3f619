"""The staff API for cases, under ``/api/v1/staff/``: the queue, a case with everything about it, the
case file, the case actions and the second approvals of four-eyes decisions.

Thin DRF views (``views``) parse with serializers, read through selectors (``selectors``: the list's
held amounts in a fixed number of queries, whatever the page size) and call one service per request
(``aml.cases.actions``). Who may read is ``HasStaffPermission``; who may act is decided by the
services, whose ``PermissionDenied`` keeps its code in the error envelope.
"""
