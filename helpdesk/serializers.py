"""Input and output shapes of the public REST API (see helpdesk/views/api.py).

Input serializers validate untrusted data only; they never save. Output
serializers decide what leaves the server, so they are where the minimum-data
rule lives (no callback numbers, no customer identity, no internal notes).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from helpdesk.models import CannedReply, Contact, Municipality, Provider, Region, Supporter
from helpdesk.selectors import SUPPORTED_LANGUAGES, supporter_name_for_customer

# --- input ----------------------------------------------------------------


class ContactCreateSerializer(serializers.Serializer):
    language = serializers.ChoiceField(choices=SUPPORTED_LANGUAGES, default="fi")
    channel = serializers.ChoiceField(
        choices=["chat", "video"],
        default="chat",
        help_text=_("video: a chat in which video and screen sharing can start at once."),
    )
    municipality = serializers.RegexField(
        r"^\d{1,3}$",
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text=_("Municipality code; empty or null when the customer does not know."),
    )
    topic = serializers.SlugField(max_length=64, required=False, allow_null=True, allow_blank=True)
    description = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, default="", trim_whitespace=True
    )
    consent = serializers.BooleanField()
    customer_key = serializers.RegexField(
        r"^[A-Za-z0-9_-]{8,64}$",
        required=False,
        allow_blank=True,
        default="",
        help_text=_("A random id the browser keeps, so a returning customer is recognised."),
    )
    provider = serializers.SlugField(
        max_length=80,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text=_("The provider whose widget the customer came through."),
    )

    def validate_consent(self, value: bool) -> bool:
        if not value:
            raise serializers.ValidationError(_("Please accept the privacy notice to continue."))
        return value


class CallbackRequestSerializer(serializers.Serializer):
    callback_number = serializers.CharField(max_length=40, trim_whitespace=True)
    customer_key = serializers.RegexField(
        r"^[A-Za-z0-9_-]{8,64}$", required=False, allow_blank=True, default=""
    )


# --- output ---------------------------------------------------------------


class ContactSerializer(serializers.Serializer):
    """The `contact` object of docs/protocol.md, as the customer sees it."""

    id = serializers.UUIDField(source="public_id")
    state = serializers.CharField()
    channel = serializers.CharField()
    language = serializers.CharField()
    topic = serializers.SerializerMethodField()
    position = serializers.IntegerField(source="last_position", allow_null=True)
    estimated_wait_s = serializers.IntegerField(source="last_estimated_wait_s", allow_null=True)
    supporter_name = serializers.SerializerMethodField()
    last_seq = serializers.SerializerMethodField()
    is_callback = serializers.BooleanField()

    def get_topic(self, contact: Contact) -> str | None:
        return contact.topic.slug if contact.topic_id else None

    def get_supporter_name(self, contact: Contact) -> str | None:
        return supporter_name_for_customer(contact)

    def get_last_seq(self, contact: Contact) -> int:
        return max(contact.next_seq - 1, 0)


class ContactCreatedSerializer(serializers.Serializer):
    token = serializers.CharField()
    contact = ContactSerializer()


class MunicipalitySerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()
    region = serializers.SerializerMethodField()

    class Meta:
        model = Municipality
        fields = ["code", "name", "name_fi", "name_sv", "region"]

    def get_name(self, m: Municipality) -> str:
        return m.localized_name()

    def get_region(self, m: Municipality) -> str:
        return m.region.localized_name()


class TopicChildSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()


class TopicCategorySerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    topics = TopicChildSerializer(many=True)


class OpeningHoursSerializer(serializers.Serializer):
    weekday = serializers.IntegerField()
    weekday_name = serializers.CharField(source="get_weekday_display")
    opens = serializers.TimeField(format="%H:%M")
    closes = serializers.TimeField(format="%H:%M")


class HelpNearProviderSerializer(serializers.ModelSerializer):
    kind_name = serializers.CharField(source="get_kind_display")
    opening_hours = OpeningHoursSerializer(many=True)

    class Meta:
        model = Provider
        fields = [
            "slug",
            "name",
            "kind",
            "kind_name",
            "address",
            "in_person_hours",
            "phone",
            "email",
            "website",
            "opening_hours",
        ]


class HelpNearSerializer(serializers.Serializer):
    municipality = MunicipalitySerializer()
    providers = HelpNearProviderSerializer(many=True)


class CannedReplySerializer(serializers.ModelSerializer):
    provider = serializers.CharField(source="provider.name")

    class Meta:
        model = CannedReply
        fields = ["id", "provider", "language", "title", "body"]


class TransferSupporterSerializer(serializers.ModelSerializer):
    class Meta:
        model = Supporter
        fields = ["id", "display_name", "presence"]


class TransferProviderSerializer(serializers.ModelSerializer):
    class Meta:
        model = Provider
        fields = ["id", "slug", "name", "is_national"]


class TransferRegionSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()

    class Meta:
        model = Region
        fields = ["id", "code", "name"]

    def get_name(self, region: Region) -> str:
        return region.localized_name()


class TransferTargetsSerializer(serializers.Serializer):
    supporters = TransferSupporterSerializer(many=True)
    providers = TransferProviderSerializer(many=True)
    regions = TransferRegionSerializer(many=True)


class MeProviderSerializer(serializers.ModelSerializer):
    class Meta:
        model = Provider
        fields = ["id", "slug", "name"]


class MeSupporterSerializer(serializers.ModelSerializer):
    providers = MeProviderSerializer(many=True)

    class Meta:
        model = Supporter
        fields = ["id", "display_name", "kind", "presence", "languages", "providers"]


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    supporter = MeSupporterSerializer(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    """Every error answer: a stable code and a human-readable detail."""

    error = serializers.CharField()
    detail = serializers.JSONField()
