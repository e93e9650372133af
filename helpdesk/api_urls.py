"""The public REST API, mounted at /api/ (documented at /api/schema/)."""

from django.urls import include, path

from helpdesk.views import api, attachments, device_check, intake

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
    path(
        "contacts/<str:public_id>/attachments",
        attachments.ContactAttachmentsView.as_view(),
        name="api-contact-attachments",
    ),
    path(
        "contacts/<str:public_id>/attachments/<str:attachment_id>",
        attachments.ContactAttachmentView.as_view(),
        name="api-contact-attachment",
    ),
    path(
        "console/contacts/<str:public_id>/attachments",
        attachments.ConsoleAttachmentsView.as_view(),
        name="api-console-attachments",
    ),
    path(
        "console/contacts/<str:public_id>/attachments/<str:attachment_id>",
        attachments.ConsoleAttachmentView.as_view(),
        name="api-console-attachment",
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
