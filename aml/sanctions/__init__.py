"""Sanctions lists: the ``sanctions`` Django app (see ``models`` for the design).

``parsers`` and ``normalize`` are pure Python (no ORM); ``reading`` turns files into one batch,
``services`` imports a batch and runs the deny list, ``selectors`` and ``snapshot`` do the matching.
"""
