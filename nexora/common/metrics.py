"""``/metrics``: Prometheus text format, built from collectors that read the database at scrape time.

Design:

* One ``CollectorRegistry`` of our own (not prometheus_client's global one, whose process metrics
  describe a single gunicorn worker). Apps add collectors by name in their ``AppConfig.ready()``::

      from nexora.common.metrics import collector_register
      collector_register("scanner", scanner_metrics)   # () -> Iterable[Metric]

  A collector is a plain function returning metric families (``GaugeMetricFamily``,
  ``CounterMetricFamily``...) built from selectors. Reading the database at scrape time means
  every web worker answers the same numbers, with no shared in-memory state and nothing to
  keep in step; counters that must survive restarts are rows (e.g. ``ScanCursor.error_count``).
  Registering a name again replaces the collector (``ready()`` may run twice in tests).
* A failing collector does not fail the scrape: its families are left out and
  ``nexora_metrics_collector_up{collector="name"}`` is 0 (1 when it worked), so an alert can
  say which part is blind. The error is logged.
* Built in: ``nexora_celery_queue_length{queue}`` (messages waiting in each Celery queue: the
  default one and those named in ``CELERY_TASK_ROUTES``), read from the Redis broker with a
  one-second timeout; no samples without ``REDIS_URL`` (tasks run in-process then). HTTP request
  counts are the one in-process exception (``nexora.common.http_metrics``, registered by
  ``CommonConfig``): they live where the requests are answered, summed across gunicorn's workers.
* Money crosses into a metric only at the exposition boundary: collectors sum ``Decimal``
  amounts in SQL (exact) and convert the total with ``decimal_sample`` when they add the sample,
  because Prometheus samples are float64. A float64 keeps 15 significant digits: totals up to
  10^13 in the account currency are exact to the cent, beyond that they are rounded, which is
  fine for a graph and an alert and never used for accounting (the ledger is the books).
* Access: ``Authorization: Bearer <NEXORA_METRICS_TOKEN>`` (Prometheus' ``authorization``
  scrape option), compared in constant time; or a logged-in staff session (any role) for a look
  from the browser. Anything else is ``401`` (no or a wrong credential) or ``403`` (a logged-in
  non-staff user), in the API's error envelope. An empty token disables token access.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)
Collect = Callable[[], Iterable[Metric]]
_COLLECTORS: dict[str, Collect] = {}


def collector_register(name: str, collect: Collect) -> None:
    """Add (or replace) the collector ``name``."""
    _COLLECTORS[name] = collect


def collector_unregister(name: str) -> None:
    _COLLECTORS.pop(name, None)


def decimal_sample(value: Decimal | None) -> float:
    """A summed ``Decimal`` as a Prometheus sample (float64): the one place money becomes a float."""
    return float(value) if value is not None else 0.0


class _Registered(Collector):
    """The bridge prometheus_client calls on every scrape: each registered collector in turn."""

    def collect(self) -> Iterator[Metric]:
        help_text = "1 if the collector answered at this scrape, else 0."
        up = GaugeMetricFamily("nexora_metrics_collector_up", help_text, labels=["collector"])
        for name, collect in sorted(_COLLECTORS.items()):
            try:
                families = list(collect())
            except Exception:
                logger.exception("metrics collector %s failed", name)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(_Registered())


# kombu's Redis transport keeps a queue's messages of priority p > 0 under "<queue>\x06\x16<p>".
_PRIORITY_STEPS = (0, 3, 6, 9)


def celery_queues() -> list[str]:
    routed = {str(route["queue"]) for route in settings.CELERY_TASK_ROUTES.values() if "queue" in route}
    return sorted({"celery", *routed})


def celery_queue_metrics() -> Iterator[Metric]:
    help_text = "Messages waiting in a Celery queue."
    family = GaugeMetricFamily("nexora_celery_queue_length", help_text, labels=["queue"])
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        try:
            for queue in celery_queues():
                keys = [queue if p == 0 else f"{queue}\x06\x16{p}" for p in _PRIORITY_STEPS]
                family.add_metric([queue], sum(int(client.llen(key)) for key in keys))
        finally:
            client.close()
    yield family


collector_register("celery", celery_queue_metrics)


def metrics_render() -> bytes:
    return generate_latest(REGISTRY)


def _error(status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message, "fields": {}}}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def _bearer_ok(request: HttpRequest) -> bool:
    token = settings.NEXORA_METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not _bearer_ok(request):
        if not user.is_authenticated or request.headers.get("Authorization"):
            return _error(401, "not_authenticated", "Send the metrics bearer token, or log in as staff.")
        if not user.is_staff:
            return _error(403, "permission_denied", "Metrics are for staff and the monitoring system.")
    return HttpResponse(metrics_render(), content_type=CONTENT_TYPE_LATEST)
