"""Thin API views for balances, the ledger and charges: authenticate, parse, call, render."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from nexora.accounts.models import ClientProfile
from nexora.accounts.permissions import (
    HasApiScope,
    HasStaffPermission,
    IsClient,
    request_api_key,
    request_client,
)
from nexora.common.api import error_responses
from payments.api.serializers import (
    BalanceSerializer,
    ChargeCreateSerializer,
    ChargeSerializer,
    LedgerEntrySerializer,
)
from payments.models import Charge
from payments.selectors.ledger import balance_get, client_entries
from payments.services.charges import charge_create


class BalanceView(APIView):
    permission_classes = [IsClient]

    @extend_schema(responses={200: BalanceSerializer, **error_responses(401, 403)})
    def get(self, request: Request) -> Response:
        balance = balance_get(client=request_client(request))
        return Response(BalanceSerializer(balance).data)


class LedgerView(generics.ListAPIView):
    permission_classes = [IsClient]
    serializer_class = LedgerEntrySerializer

    def get_queryset(self) -> Any:
        return client_entries(client=request_client(self.request))


class ChargeCreateView(APIView):
    permission_classes = [HasApiScope]
    required_scope = "charges:write"

    @extend_schema(
        request=ChargeCreateSerializer,
        responses={200: ChargeSerializer, 201: ChargeSerializer, **error_responses(400, 401, 403, 409)},
        description="Debit a client's available balance. Idempotent on idempotency_key: a retry "
        "answers 200 with the first charge; other parameters under a used key answer 409.",
    )
    def post(self, request: Request) -> Response:
        body = ChargeCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = charge_create(
            client_id=data["client"],
            amount=data["amount"],
            currency=data["currency"],
            description=data["description"],
            order_ref=data["order_ref"],
            idempotency_key=data["idempotency_key"],
            api_key=request_api_key(request),
        )
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(ChargeSerializer(result.charge).data, status=code)


class ChargeDetailView(APIView):
    permission_classes = [HasApiScope]
    required_scope = "charges:write"

    @extend_schema(responses={200: ChargeSerializer, **error_responses(401, 403, 404)})
    def get(self, request: Request, pk: int) -> Response:
        return Response(ChargeSerializer(get_object_or_404(Charge, pk=pk)).data)


class StaffClientBalanceView(APIView):
    permission_classes = [HasStaffPermission]
    required_permission = "accounts.view_client_data"

    @extend_schema(responses={200: BalanceSerializer, **error_responses(401, 403, 404)})
    def get(self, request: Request, pk: int) -> Response:
        client = get_object_or_404(ClientProfile, pk=pk)
        return Response(BalanceSerializer(balance_get(client=client)).data)
