"""``GET /api/v1/me/export/?format=json|csv``: the client's copy of their data, for scripts.

The same document as the client area's download (``nexora.privacy.exports``). ``format`` picks the
representation (DRF's own ``format`` override, here with exactly two renderers); anything else is
``400 invalid_format``. Errors (and OPTIONS metadata) are always JSON, whatever ``format`` asked for.
Each download is a ``data_exported`` event in the security log.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from nexora.accounts.permissions import IsClient, request_client
from nexora.accounts.security import SecurityKind, security_event_log
from nexora.common.api import ErrorEnvelopeSerializer
from nexora.common.errors import ValidationFailed
from nexora.privacy.exports import FORMAT, export_build, export_csv

FORMATS = ("json", "csv")


class CsvExportRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return export_csv(data).encode()


class ExportNegotiation(BaseContentNegotiation):
    """``?format=csv`` gets CSV; everything else JSON (the view refuses unknown formats)."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        wanted = request.query_params.get("format", "json")
        for renderer in renderers:
            if renderer.format == wanted:
                return renderer, renderer.media_type
        return renderers[0], renderers[0].media_type


class MyExportView(APIView):
    permission_classes = [IsClient]
    renderer_classes = [JSONRenderer, CsvExportRenderer]
    content_negotiation_class = ExportNegotiation

    @extend_schema(
        operation_id="me_export",
        parameters=[OpenApiParameter("format", str, enum=list(FORMATS), default="json")],
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT, description="The data, nested by category."
            ),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="category,record,field,value"),
            (400, "application/json"): ErrorEnvelopeSerializer,
            (401, "application/json"): ErrorEnvelopeSerializer,
            (403, "application/json"): ErrorEnvelopeSerializer,
        },
        description="A copy of all the personal data Nexora keeps about the calling client.",
    )
    def get(self, request: Request) -> Response:
        fmt = request.query_params.get("format", "json")
        if fmt not in FORMATS:
            message = "format must be json or csv."
            raise ValidationFailed(
                message,
                code="invalid_format",
                fields={"format": [{"code": "invalid_format", "message": message}]},
            )
        client = request_client(request)
        document = export_build(client=client)
        security_event_log(
            user=client.user, kind=SecurityKind.DATA_EXPORTED, request=request._request, detail=f"api {fmt}"
        )
        response = Response(document)
        response["Content-Disposition"] = f'attachment; filename="nexora-data-{client.pk}.{fmt}"'
        response["Cache-Control"] = "no-store"
        return response

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        # Only the export document itself may be CSV; errors and OPTIONS metadata are JSON.
        data = getattr(response, "data", None)
        if isinstance(response, Response) and not (isinstance(data, dict) and data.get("format") == FORMAT):
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        return response
