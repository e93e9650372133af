"""The public REST API: thin adapters over services and selectors.

Customer endpoints authenticate with the signed contact token (header
X-Contact-Token) and never with cookies, so they carry no CSRF risk and accept
JSON only. Console endpoints use the Django session of a supporter. Every
error is JSON {"error": code, "detail": ...} (helpdesk.views.api_errors).
"""

from __future__ import annotations

import hashlib
import logging
import uuid

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from limits import parse
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk import selectors, serializers
from helpdesk.client_address import client_address
from helpdesk.rate_limits import MovingWindowThrottle, ThrottledTogether
from helpdesk.services import customer_data
from helpdesk.services.callbacks import request_callback
from helpdesk.services.errors import InvalidInput, NotAllowed, NotFound
from helpdesk.tokens import make_contact_token
from helpdesk.views import api_limits
from routing.services import enqueue_contact

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Contact-Token"
_token_parameter = OpenApiParameter(
    TOKEN_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="The contact token returned by POST /api/contacts/.",
)
_errors = {
    400: serializers.ErrorSerializer,
    403: serializers.ErrorSerializer,
    404: serializers.ErrorSerializer,
}


# --- rate limiting --------------------------------------------------------


class PerIPThrottle(MovingWindowThrottle):
    """Moving-window limit per client address, rate from a setting."""

    setting = "CONTACT_CREATE_RATE_LIMIT"
    default_rate = "10/minute"
    scope = "contact-create"

    def limit(self, request, view):
        item = parse(getattr(settings, self.setting, self.default_rate))
        return item, self.scope, client_address(request.META)


class CallbackThrottle(PerIPThrottle):
    setting = "CALLBACK_RATE_LIMIT"
    default_rate = "5/minute"
    scope = "callback"


# --- helpers --------------------------------------------------------------


def _parse_public_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound("No such contact.") from None


def _customer_contact(request, public_id: str):
    """The contact the request's token proves access to.

    No token: 403. A token for another contact, or an unknown id: 404, the
    same answer whether or not the id exists.
    """
    parsed = _parse_public_id(public_id)
    token = request.headers.get(TOKEN_HEADER)
    if not token:
        raise NotAuthenticated("The X-Contact-Token header is missing.")
    contact = selectors.contact_for_token(public_id=parsed, token=token)
    if contact is None:
        raise NotFound("No such contact.")
    return contact


def _hashed_key(raw: str) -> str:
    """Only a hash of the browser's random id is stored (see the privacy notice)."""
    if not raw:
        return ""
    return hashlib.sha256(f"digituki-customer:{raw}".encode()).hexdigest()


def _supporter(request):
    supporter = selectors.supporter_for_user(request.user)
    if supporter is None:
        raise NotAllowed("Only supporters may use the console API.")
    return supporter


class CustomerAPIView(ThrottledTogether, APIView):
    """Token-authenticated, cookie-free, JSON-only."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]


class SupporterAPIView(APIView):
    permission_classes = [IsAuthenticated]


# --- customer endpoints ---------------------------------------------------


def _well_formed_code(code: object) -> bool:
    """What ``selectors.municipality_by_code`` would look up at all."""
    return isinstance(code, str) and code.isdigit() and len(code) <= 3


class ContactCreateView(CustomerAPIView):
    throttle_classes = [PerIPThrottle, api_limits.PerCustomerKeyThrottle]

    @extend_schema(
        summary="Start a chat or video contact",
        request=serializers.ContactCreateSerializer,
        responses={201: serializers.ContactCreatedSerializer, 429: serializers.ErrorSerializer}
        | _errors,
        auth=[],
    )
    def post(self, request):
        data = _validated(serializers.ContactCreateSerializer, request.data)
        code = data.get("municipality") or None
        if code and not _well_formed_code(code):
            raise InvalidInput("Unknown municipality code.")
        contact = enqueue_contact(
            channel=data["channel"],
            language=data["language"],
            municipality_code=code,
            topic_slug=data.get("topic") or None,
            description=data.get("description", ""),
            customer_key=_hashed_key(data.get("customer_key", "")),
            consent=data["consent"],
            entry_provider_slug=data.get("provider") or None,
            # A typo must not silently send the customer to the national line.
            refuse_unknown_municipality=True,
        )
        body = {
            "token": make_contact_token(contact.public_id),
            "contact": serializers.ContactSerializer(contact).data,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class ContactDetailView(CustomerAPIView):
    @extend_schema(
        summary="The customer's view of their contact",
        parameters=[_token_parameter],
        responses={200: serializers.ContactSerializer} | _errors,
        auth=[],
    )
    def get(self, request, public_id: str):
        contact = _customer_contact(request, public_id)
        return Response(serializers.ContactSerializer(contact).data)

    @extend_schema(
        summary="Delete the customer's own contact now (ended first when open)",
        description=(
            "Removes the messages, description, callback number, notes and feedback comment"
            " at once, as the retention period would; pseudonymous statistics stay."
        ),
        parameters=[_token_parameter],
        request=None,
        responses={204: None} | _errors,
        auth=[],
    )
    def delete(self, request, public_id: str):
        contact = _customer_contact(request, public_id)
        customer_data.delete_own_contact(contact=contact)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContactExportView(CustomerAPIView):
    @extend_schema(
        summary="Download the customer's own contact as JSON (internal notes excluded)",
        parameters=[_token_parameter],
        responses={200: OpenApiTypes.OBJECT} | _errors,
        auth=[],
    )
    def get(self, request, public_id: str):
        contact = _customer_contact(request, public_id)
        response = Response(customer_data.contact_export(contact=contact))
        filename = f"digituki-chat-{contact.created_at:%Y%m%d-%H%M}.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response


class ContactCallbackView(CustomerAPIView):
    throttle_classes = [CallbackThrottle, api_limits.PerContactTokenThrottle]

    @extend_schema(
        summary="Turn a waiting chat into a callback request",
        parameters=[_token_parameter],
        request=serializers.CallbackRequestSerializer,
        responses={201: serializers.ContactSerializer, 409: serializers.ErrorSerializer} | _errors,
        auth=[],
    )
    def post(self, request, public_id: str):
        contact = _customer_contact(request, public_id)
        data = _validated(serializers.CallbackRequestSerializer, request.data)
        callback = request_callback(
            contact=contact,
            callback_number=data["callback_number"],
            customer_key=_hashed_key(data.get("customer_key", "")),
        )
        return Response(
            serializers.ContactSerializer(callback).data, status=status.HTTP_201_CREATED
        )


class ContactTranscriptView(CustomerAPIView):
    @extend_schema(
        summary="Download the chat transcript as plain text (internal notes excluded)",
        parameters=[_token_parameter],
        responses={(200, "text/plain"): OpenApiTypes.STR} | _errors,
        auth=[],
    )
    def get(self, request, public_id: str):
        contact = _customer_contact(request, public_id)
        text = selectors.transcript_text(
            contact=contact,
            messages=selectors.customer_visible_messages(contact),
            base_url=request.build_absolute_uri("/").rstrip("/"),
        )
        customer_data.record_transcript_download(contact=contact)
        response = HttpResponse(text, content_type="text/plain; charset=utf-8")
        filename = f"digituki-chat-{contact.created_at:%Y%m%d-%H%M}.txt"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response


# --- reference data -------------------------------------------------------


class MunicipalityListView(CustomerAPIView):
    @extend_schema(
        summary="Municipalities (search by Finnish or Swedish name)",
        parameters=[OpenApiParameter("q", OpenApiTypes.STR, description="name prefix or part")],
        responses={200: serializers.MunicipalitySerializer(many=True)} | _errors,
        auth=[],
    )
    def get(self, request):
        query = request.query_params.get("q", "")
        if len(query) > 100:
            raise InvalidInput("The search text is too long.")
        if query.strip():
            rows = selectors.search_municipalities(query=query, limit=50)
        else:
            rows = selectors.search_municipalities(query="", limit=1000)
        return Response(serializers.MunicipalitySerializer(rows, many=True).data)


class TopicListView(CustomerAPIView):
    @extend_schema(
        summary="The two-level topic taxonomy",
        parameters=[OpenApiParameter("lang", OpenApiTypes.STR, enum=["fi", "sv", "en"])],
        responses={200: serializers.TopicCategorySerializer(many=True)},
        auth=[],
    )
    def get(self, request):
        tree = selectors.topic_tree(language=request.query_params.get("lang"))
        return Response(serializers.TopicCategorySerializer(tree, many=True).data)


class HelpNearView(CustomerAPIView):
    @extend_schema(
        summary="Providers offering in-person help in a municipality",
        parameters=[
            OpenApiParameter("municipality", OpenApiTypes.STR, required=True, description="code")
        ],
        responses={200: serializers.HelpNearSerializer} | _errors,
        auth=[],
    )
    def get(self, request):
        code = request.query_params.get("municipality", "")
        if not code:
            raise InvalidInput("Give a municipality code, e.g. ?municipality=091.")
        municipality = selectors.municipality_by_code(code)
        if municipality is None:
            raise NotFound("No such municipality.")
        body = {
            "municipality": municipality,
            "providers": selectors.help_near(municipality=municipality),
        }
        return Response(serializers.HelpNearSerializer(body).data)


# --- console endpoints ----------------------------------------------------


class CannedRepliesView(SupporterAPIView):
    @extend_schema(
        summary="Canned replies of the supporter's providers",
        parameters=[OpenApiParameter("lang", OpenApiTypes.STR, enum=["fi", "sv", "en"])],
        responses={200: serializers.CannedReplySerializer(many=True)} | _errors,
    )
    def get(self, request):
        supporter = _supporter(request)
        lang = request.query_params.get("lang") or None
        if lang is not None and lang not in selectors.SUPPORTED_LANGUAGES:
            raise InvalidInput("lang must be fi, sv or en.")
        rows = selectors.canned_replies_for(supporter=supporter, language=lang)
        return Response(serializers.CannedReplySerializer(rows, many=True).data)


class TransferTargetsView(SupporterAPIView):
    @extend_schema(
        summary="Supporters, providers and regions a contact can be transferred to",
        responses={200: serializers.TransferTargetsSerializer} | _errors,
    )
    def get(self, request):
        supporter = _supporter(request)
        targets = selectors.transfer_targets(supporter=supporter)
        return Response(serializers.TransferTargetsSerializer(targets).data)


class MeView(SupporterAPIView):
    @extend_schema(
        summary="The signed-in user and their supporter record (null if none)",
        responses={200: serializers.MeSerializer} | _errors,
    )
    def get(self, request):
        body = {
            "username": request.user.get_username(),
            "supporter": selectors.supporter_for_user(request.user),
        }
        return Response(serializers.MeSerializer(body).data)


def _validated(serializer_class, data) -> dict:
    if not isinstance(data, dict):
        raise InvalidInput("Send a JSON object.")
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
