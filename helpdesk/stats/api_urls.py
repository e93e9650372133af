"""Statistics API, mounted at /api/stats/."""

from django.urls import path

from helpdesk.stats import api

urlpatterns = [
    path("figures", api.StatsFiguresView.as_view(), name="api-stats-figures"),
    path("demand", api.StatsDemandView.as_view(), name="api-stats-demand"),
    path("coverage", api.StatsCoverageView.as_view(), name="api-stats-coverage"),
]
