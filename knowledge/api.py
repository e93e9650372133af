"""JSON endpoints for the supporter console: suggestions and manual search."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from . import selectors, services
from .access import is_supporter

MAX_SUGGEST_CHARS = 4000
MAX_SEARCH_CHARS = 300


class IsSupporter(permissions.BasePermission):
    message = _("Supporters only.")

    def has_permission(self, request, view) -> bool:
        return is_supporter(request.user)


class QuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=MAX_SUGGEST_CHARS, allow_blank=True, trim_whitespace=True)
    lang = serializers.ChoiceField(choices=["fi", "sv", "en"], default="fi")
    limit = serializers.IntegerField(min_value=1, max_value=20, required=False)


_CARD = inline_serializer(
    "ArticleCard",
    {
        "id": serializers.IntegerField(),
        "slug": serializers.CharField(),
        "title": serializers.CharField(),
        "summary": serializers.CharField(),
        "url": serializers.CharField(),
        "language": serializers.CharField(),
    },
    many=True,
)
_PARAMS = [
    OpenApiParameter("q", str, description="Text to search for or the conversation so far"),
    OpenApiParameter("lang", str, enum=["fi", "sv", "en"]),
    OpenApiParameter("limit", int, required=False),
]


@extend_schema(parameters=_PARAMS, responses={200: _CARD})
@api_view(["GET"])
@permission_classes([permissions.IsAuthenticated, IsSupporter])
def suggest(request):
    params = QuerySerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    data = params.validated_data
    return Response(
        services.suggest_articles(text=data["q"], language=data["lang"], limit=data.get("limit", 3))
    )


@extend_schema(parameters=_PARAMS, responses={200: _CARD})
@api_view(["GET"])
@permission_classes([permissions.IsAuthenticated, IsSupporter])
def search(request):
    params = QuerySerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    data = params.validated_data
    query = data["q"][:MAX_SEARCH_CHARS]
    if not query:
        return Response([])
    return Response(
        selectors.search_articles(
            q=query, language=data["lang"], user=request.user, limit=data.get("limit", 10)
        )
    )
