"""Statistics pages, mounted at /stats/."""

from django.urls import path

from helpdesk.stats import views

urlpatterns = [
    path("", views.dashboard, name="stats-dashboard"),
    path("export.<str:fmt>", views.export, name="stats-export"),
]
