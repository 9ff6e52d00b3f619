"""Thin API views of the client's inbox: list (newest first, ``?unread=true``), mark one or all read."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aml.notifications.api.serializers import NotificationSerializer, ReadAllSerializer
from aml.notifications.selectors import notifications_for_client
from aml.notifications.services import notification_mark_read, notifications_mark_all_read
from nexora.accounts.permissions import IsClient, request_client
from nexora.common.api import error_responses

UNREAD = OpenApiParameter("unread", bool, OpenApiParameter.QUERY, required=False, description="Unread only.")


@extend_schema_view(
    get=extend_schema(
        parameters=[UNREAD],
        responses={200: NotificationSerializer(many=True), **error_responses(401, 403, 404)},
        description="Your notifications, newest first, with their texts in the request's language.",
    )
)
class NotificationListView(generics.ListAPIView):
    permission_classes = [IsClient]
    serializer_class = NotificationSerializer

    def get_queryset(self) -> Any:
        unread = self.request.query_params.get("unread", "").lower() in ("1", "true", "yes")
        return notifications_for_client(client=request_client(self.request), unread_only=unread)


class NotificationReadView(APIView):
    permission_classes = [IsClient]

    @extend_schema(request=None, responses={200: NotificationSerializer, **error_responses(401, 403, 404)})
    def post(self, request: Request, pk: int) -> Response:
        notification = notification_mark_read(client=request_client(request), notification_id=pk)
        return Response(NotificationSerializer(notification).data)


class NotificationReadAllView(APIView):
    permission_classes = [IsClient]

    @extend_schema(request=None, responses={200: ReadAllSerializer, **error_responses(401, 403)})
    def post(self, request: Request) -> Response:
        marked = notifications_mark_all_read(client=request_client(request))
        return Response(ReadAllSerializer({"marked": marked}).data)
