from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from helpdesk.metrics import metrics_view
from helpdesk.views import health, site

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("favicon.ico", site.favicon, name="favicon"),
    path("metrics", metrics_view, name="metrics"),
    # Swagger UI from our static files, its start script a separate request
    # (no inline script: Content-Security-Policy).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="helpdesk/api_docs.html"
        ),
        name="api-docs",
    ),
    path("api/", include("helpdesk.api_urls")),
    path("admin/", admin.site.urls),
    path("", include("helpdesk.page_urls")),
    path("kb/", include("knowledge.urls")),
    path("stats/", include("helpdesk.stats.urls")),
    path("telephony/", include("realtime.telephony.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

__all__ = ["urlpatterns", "i18n_patterns"]
