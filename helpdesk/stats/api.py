"""The statistics in the JSON API (/api/stats/...): the dashboard's figures, for machines.

Session-authenticated like the console API; the same scope and suppression
as the page (helpdesk/stats/selectors.py). Errors are JSON
{"error": code, "detail": ...} (helpdesk/views/api_errors.py).
"""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.models import Region
from helpdesk.serializers import ErrorSerializer
from helpdesk.services.errors import InvalidInput, NotAllowed
from helpdesk.stats import selectors
from helpdesk.stats.demand import cached_region_plan
from helpdesk.stats.figures import FIGURE_COLUMNS
from helpdesk.stats.supply import coverage

_errors = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer}
_filters = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="First day (default: 28 days ago)"),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day, included (default: today)"),
    OpenApiParameter("region", OpenApiTypes.STR, description="Region codes, comma-separated"),
    OpenApiParameter("channel", OpenApiTypes.STR, enum=["chat", "phone", "video"]),
    OpenApiParameter("topic", OpenApiTypes.STR, description="Topic slug"),
]


def _figure_fields() -> dict:
    fields = {name: serializers.FloatField(allow_null=True) for name in FIGURE_COLUMNS}
    fields["suppressed"] = serializers.BooleanField(
        help_text="True: fewer than 5 contacts, every figure is null."
    )
    return fields


FiguresSerializer = type("StatsFigures", (serializers.Serializer,), _figure_fields())
DayRowSerializer = type("StatsDayRow", (FiguresSerializer,), {"date": serializers.DateField()})
GroupRowSerializer = type(
    "StatsGroupRow",
    (FiguresSerializer,),
    {
        "key": serializers.CharField(allow_null=True),
        "label": serializers.CharField(),
        "share": serializers.FloatField(allow_null=True),
    },
)
RegionRowSerializer = type(
    "StatsRegionRow",
    (GroupRowSerializer,),
    {
        "code": serializers.CharField(),
        "population": serializers.IntegerField(),
        "per_1000_per_week": serializers.FloatField(allow_null=True),
    },
)


class HeatCellSerializer(serializers.Serializer):
    weekday = serializers.IntegerField(help_text="0 = Monday")
    hour = serializers.IntegerField(help_text="Hour of day, Finnish time")
    arrivals = serializers.IntegerField(allow_null=True)
    suppressed = serializers.BooleanField()


class StatsResponseSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=["national", "coordinator", "provider"])
    filters = serializers.DictField(child=serializers.CharField())
    summary = FiguresSerializer()
    volume = DayRowSerializer(many=True)
    heatmap = HeatCellSerializer(many=True)
    topics = GroupRowSerializer(many=True)
    channels = GroupRowSerializer(many=True)
    regions = RegionRowSerializer(many=True)
    providers = GroupRowSerializer(many=True)


class ForecastPointSerializer(serializers.Serializer):
    hour_start = serializers.DateTimeField()
    mean = serializers.FloatField()
    lower = serializers.FloatField()
    upper = serializers.FloatField()


class BacktestPointSerializer(ForecastPointSerializer):
    actual = serializers.FloatField(allow_null=True)
    suppressed = serializers.BooleanField()
    online = serializers.FloatField(help_text="Measured supporter-hours online in the hour")


class StaffingHourSerializer(serializers.Serializer):
    hour_start = serializers.DateTimeField()
    arrivals = serializers.FloatField()
    agents = serializers.IntegerField()
    service_level = serializers.FloatField()
    planned = serializers.FloatField()
    gap = serializers.FloatField()


class DemandSerializer(serializers.Serializer):
    region_code = serializers.CharField()
    channel = serializers.CharField(allow_null=True)
    history_hours = serializers.IntegerField()
    history_contacts = serializers.IntegerField()
    aht_s = serializers.FloatField()
    patience_s = serializers.FloatField(allow_null=True)
    concurrency = serializers.IntegerField()
    model = serializers.ChoiceField(choices=["erlang_c", "erlang_a"])
    forecast = ForecastPointSerializer(many=True)
    backtest = BacktestPointSerializer(many=True)
    staffing = StaffingHourSerializer(many=True)
    supporter_hours_week = serializers.IntegerField()
    planned_hours_week = serializers.FloatField()
    online_hours_last_week = serializers.FloatField()
    formula_service_level = serializers.FloatField(allow_null=True)
    simulated_service_level = serializers.FloatField(allow_null=True)
    unavailable = serializers.CharField(allow_null=True)


class CoverageMunicipalitySerializer(serializers.Serializer):
    municipality_code = serializers.CharField()
    municipality = serializers.CharField()
    region_code = serializers.CharField()
    population = serializers.IntegerField()
    language_status = serializers.ChoiceField(choices=["fi", "bilingual_fi", "bilingual_sv", "sv"])
    providers = serializers.IntegerField()
    channels = serializers.ListField(child=serializers.CharField())
    languages = serializers.ListField(child=serializers.CharField())
    missing_channels = serializers.ListField(child=serializers.CharField())
    swedish_gap = serializers.BooleanField()


class CoverageSerializer(serializers.Serializer):
    municipalities = CoverageMunicipalitySerializer(many=True)
    regions = serializers.ListField(child=serializers.DictField())


class StatsAPIView(APIView):
    permission_classes = [IsAuthenticated]


class StatsFiguresView(StatsAPIView):
    @extend_schema(
        summary="Contact statistics for the reader's scope",
        description=(
            "Sums, waits, outcomes and feedback by day, weekday x hour, topic, channel, "
            "region and provider. Groups of fewer than 5 contacts are null outside a "
            "coordinator's own regions."
        ),
        parameters=_filters,
        responses={200: StatsResponseSerializer} | _errors,
    )
    def get(self, request):
        scope = selectors.scope_for_user(request.user)
        filters = selectors.parse_filters(request.query_params)
        return Response(selectors.dashboard_figures(scope, filters))


class StatsDemandView(StatsAPIView):
    @extend_schema(
        summary="Forecast, staffing need and planned supply of one region",
        parameters=[
            OpenApiParameter("region", OpenApiTypes.STR, required=True),
            OpenApiParameter("channel", OpenApiTypes.STR, enum=["chat", "phone", "video"]),
        ],
        responses={200: DemandSerializer} | _errors,
    )
    def get(self, request):
        scope = selectors.scope_for_user(request.user)
        filters = selectors.parse_filters(request.query_params)
        if len(filters.region_codes) != 1:
            raise InvalidInput("Give exactly one region.")
        region = Region.objects.get(code=filters.region_codes[0])
        if scope.region_ids is not None and region.pk not in scope.region_ids:
            raise NotAllowed("You may see the statistics of your own regions only.")
        plan = cached_region_plan(scope=scope, region=region, channel=filters.channel)
        return Response(asdict(plan))


class StatsCoverageView(StatsAPIView):
    @extend_schema(
        summary="Channels and languages on offer per municipality, and the gaps",
        parameters=[OpenApiParameter("region", OpenApiTypes.STR)],
        responses={200: CoverageSerializer} | _errors,
    )
    def get(self, request):
        scope = selectors.scope_for_user(request.user)
        filters = selectors.parse_filters(request.query_params)
        region_ids = scope.region_ids
        if filters.region_codes:
            wanted = set(
                Region.objects.filter(code__in=filters.region_codes).values_list("pk", flat=True)
            )
            if region_ids is not None and not wanted <= region_ids:
                raise NotAllowed("You may see the statistics of your own regions only.")
            region_ids = wanted
        return Response(coverage(region_ids=region_ids))
