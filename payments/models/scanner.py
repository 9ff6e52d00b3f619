"""The scanner's memory of each chain: a cursor and the recent block hashes it has processed.

``ScanCursor`` is the last block whose transfers were all recorded (height + hash). It only ever
moves forward past a block after that block's transfers were observed, in the same transaction
that records the block (ARCHITECTURE.md invariant 3), or backward to a common ancestor on a reorg.

``ScannedBlock`` keeps the hash and parent of each recent processed block (a window of
``KEEP_BLOCKS``), so a reorg is found by walking back until the stored hash equals the chain's.

The cursor also carries the scanner's health, written by ``payments.services.scanhealth`` after
each pass (the task and the command): when a pass last succeeded, how many failed in total and in
a row, and the last error. ``/metrics`` and the staff health API read it
(``payments.selectors.scanner``); the beat task backs off a network while its passes fail.
"""

from __future__ import annotations

from django.db import models

from payments.models.networks import Network

KEEP_BLOCKS = 500


class ScanCursor(models.Model):
    network = models.OneToOneField(Network, on_delete=models.PROTECT, related_name="cursor")
    height = models.PositiveBigIntegerField()
    block_hash = models.CharField(max_length=80)
    head = models.PositiveBigIntegerField(default=0, help_text="Chain head at the last scan.")
    last_scan_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True, help_text="End of the last pass that ran.")
    last_error_at = models.DateTimeField(null=True, blank=True)
    error_count = models.PositiveBigIntegerField(default=0, help_text="Failed passes, ever.")
    consecutive_errors = models.PositiveIntegerField(
        default=0, help_text="Failed passes since the last success."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.network_id}@{self.height}"

    @property
    def lag(self) -> int:
        return max(0, self.head - self.height)


class ScannedBlock(models.Model):
    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="scanned_blocks")
    height = models.PositiveBigIntegerField()
    block_hash = models.CharField(max_length=80)
    parent_hash = models.CharField(max_length=80)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["network", "height"], name="scanned_block_unique")]

    def __str__(self) -> str:
        return f"{self.network_id}#{self.height} {self.block_hash[:10]}"
