"""The public REST API, mounted at /api/ (documented at /api/schema/)."""

from django.urls import include, path

from helpdesk.views import api, device_check, intake

urlpatterns = [
    path("contacts/", intake.contact_create, name="api-contact-create"),
    path("contacts/<str:public_id>/", api.ContactDetailView.as_view(), name="api-contact"),
    path(
        "contacts/<str:public_id>/callback",
        api.ContactCallbackView.as_view(),
        name="api-contact-callback",
    ),
    path(
        "contacts/<str:public_id>/transcript",
        api.ContactTranscriptView.as_view(),
        name="api-contact-transcript",
    ),
    path(
        "contacts/<str:public_id>/export",
        api.ContactExportView.as_view(),
        name="api-contact-export",
    ),
    path("municipalities", api.MunicipalityListView.as_view(), name="api-municipalities"),
    path("topics", api.TopicListView.as_view(), name="api-topics"),
    path("help-near", api.HelpNearView.as_view(), name="api-help-near"),
    path("console/canned-replies", api.CannedRepliesView.as_view(), name="api-console-canned"),
    path(
        "console/transfer-targets",
        api.TransferTargetsView.as_view(),
        name="api-console-transfer-targets",
    ),
    path("me", api.MeView.as_view(), name="api-me"),
    path("stats/", include("helpdesk.stats.api_urls")),
    path("device-check/", device_check.device_check_offer, name="api-device-check"),
]
