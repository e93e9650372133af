from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from helpdesk.views import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
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
