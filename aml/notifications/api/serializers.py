"""The API shape of a notification: its event and parameters, and its texts in the request's language."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from aml.notifications.events import Rendered, event_render
from aml.notifications.models import Notification


class DetailSerializer(serializers.Serializer):
    """``{"label", "value"}``; built in get_fields() because ``label`` is also a Field attribute."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {"label": serializers.CharField(), "value": serializers.CharField()}


class NotificationSerializer(serializers.ModelSerializer):
    title = serializers.SerializerMethodField()
    body = serializers.SerializerMethodField()
    details = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField(help_text="A page of the client area about it, or empty.")
    read = serializers.SerializerMethodField()
    params = serializers.DictField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "event", "title", "body", "details", "url", "params", "read", "read_at", "created_at"]

    def _text(self, obj: Notification) -> Rendered:
        # Rendered once per object, for the four fields that show it.
        if "_rendered" not in obj.__dict__:
            obj.__dict__["_rendered"] = event_render(event=obj.event, params=obj.params)
        return obj.__dict__["_rendered"]

    def get_title(self, obj: Notification) -> str:
        return self._text(obj).title

    def get_body(self, obj: Notification) -> str:
        return self._text(obj).body

    @extend_schema_field(DetailSerializer(many=True))
    def get_details(self, obj: Notification) -> list[dict[str, str]]:
        return [{"label": label, "value": value} for label, value in self._text(obj).details]

    def get_url(self, obj: Notification) -> str:
        return self._text(obj).url

    def get_read(self, obj: Notification) -> bool:
        return obj.read_at is not None


class ReadAllSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many notifications changed to read.")
