"""Thin API views for balances, the ledger, charges, networks and top-ups: authenticate, parse,
call one service or selector, render."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
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
    NetworkHealthSerializer,
    NetworkSerializer,
    NewTopUpSerializer,
    TopUpCreateSerializer,
    TopUpSerializer,
    TxHashSerializer,
    TxLookupSerializer,
)
from payments.models import Charge, TxLookupStatus
from payments.selectors.ledger import balance_get, client_entries
from payments.selectors.scanner import networks_health
from payments.selectors.topups import networks_enabled, topup_for_client, topups_for_client
from payments.services.charges import charge_create
from payments.services.lookups import topup_tx_submit
from payments.services.topups import topup_create


class BalanceView(APIView):
    permission_classes = [IsClient]

    @extend_schema(responses={200: BalanceSerializer, **error_responses(401, 403)})
    def get(self, request: Request) -> Response:
        balance = balance_get(client=request_client(request))
        return Response(BalanceSerializer(balance).data)


@extend_schema_view(
    get=extend_schema(responses={200: LedgerEntrySerializer(many=True), **error_responses(401, 403, 404)})
)
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


# --- networks and top-ups ------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(responses={200: NetworkSerializer(many=True), **error_responses(401, 403)})
)
class NetworkListView(generics.ListAPIView):
    """Networks a client can top up on."""

    permission_classes = [IsAuthenticated]
    serializer_class = NetworkSerializer
    pagination_class = None

    def get_queryset(self) -> Any:
        return networks_enabled()


@extend_schema_view(
    get=extend_schema(responses={200: TopUpSerializer(many=True), **error_responses(401, 403, 404)})
)
class TopUpListCreateView(generics.ListAPIView):
    permission_classes = [IsClient]
    serializer_class = TopUpSerializer

    def get_queryset(self) -> Any:
        return topups_for_client(request_client(self.request))

    @extend_schema(
        request=TopUpCreateSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="Resend the same key to retry safely: the first top-up is returned (200).",
            )
        ],
        responses={200: TopUpSerializer, 201: TopUpSerializer, **error_responses(400, 401, 403, 409, 503)},
        description="Quote an amount in the account currency on a network; returns the address, the exact "
        "crypto amount at a locked rate and the time window.",
    )
    def post(self, request: Request) -> Response:
        body = TopUpCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key", "").strip()[:200]
        client = request_client(request)
        result = topup_create(
            client=client,
            network_code=body.validated_data["network"],
            amount=body.validated_data["amount"],
            idempotency_key=key,
        )
        if not result.created:  # a replay: render the stored top-up as any later read would
            return Response(TopUpSerializer(topup_for_client(client, result.topup.public_id)).data)
        # Born in this request, its network and address attached: render it without reading it back.
        return Response(NewTopUpSerializer(result.topup).data, status=status.HTTP_201_CREATED)


class TopUpDetailView(APIView):
    permission_classes = [IsClient]

    @extend_schema(responses={200: TopUpSerializer, **error_responses(401, 403, 404)})
    def get(self, request: Request, topup_id: str) -> Response:
        return Response(TopUpSerializer(topup_for_client(request_client(request), topup_id)).data)


class TopUpTxHashView(APIView):
    permission_classes = [IsClient]

    @extend_schema(
        request=TxHashSerializer,
        responses={
            200: TxLookupSerializer,
            202: TxLookupSerializer,
            **error_responses(400, 401, 403, 404, 409),
        },
        description=(
            "Tell us the hash of your payment: it is looked up at once on the top-up's network.\n\n"
            "* **200** `found`: it pays this top-up's address; it is recorded and credited once the network "
            "has confirmed it (follow the top-up's `status` and `deposits`).\n"
            "* **202** `pending`: a token payment still waiting in the mempool; it is recorded once mined.\n"
            "* **202** `queued`: the node could not be reached now; the lookup is retried in the background "
            "(the scanner finds the payment anyway).\n"
            "* **400**, nothing recorded: `invalid_tx_hash` (malformed for this network), `tx_not_found` "
            "(no node of the network knows it), `not_to_this_address` (it does not pay this address with "
            "this network's asset), `failed_transaction` (it reverted and moved nothing), `wrong_network` "
            "(it pays this address on another network; the field error's `network` is that network's "
            "code; such payments are not credited automatically).\n"
            "* **409** `tx_hash_taken`: it already paid another top-up."
        ),
    )
    def post(self, request: Request, topup_id: str) -> Response:
        topup = topup_for_client(request_client(request), topup_id)
        body = TxHashSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        lookup = topup_tx_submit(topup=topup, tx_hash=body.validated_data["tx_hash"])
        code = status.HTTP_200_OK if lookup.status == TxLookupStatus.FOUND else status.HTTP_202_ACCEPTED
        return Response(TxLookupSerializer(lookup).data, status=code)


class StaffNetworkHealthView(APIView):
    """The scanner's health per network, for the staff dashboard (the numbers behind /metrics)."""

    permission_classes = [HasStaffPermission]
    required_permission = "payments.view_scancursor"

    @extend_schema(
        responses={200: NetworkHealthSerializer(many=True), **error_responses(401, 403)},
        description="Every network, ordered by code: head, cursor, lag in blocks and seconds, last "
        "successful pass, error counts and a status (ok, lagging, failing, not_started, disabled). "
        "See docs/operations.md for what each number means and when to act.",
    )
    def get(self, request: Request) -> Response:
        return Response(NetworkHealthSerializer(networks_health(), many=True).data)
