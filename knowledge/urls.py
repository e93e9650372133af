from django.urls import path

from . import api, views

app_name = "knowledge"

# Fixed paths come before the article slug so that no slug can shadow them.
urlpatterns = [
    path("", views.index, name="index"),
    path("api/suggest", api.suggest, name="api-suggest"),
    path("api/search", api.search, name="api-search"),
    path("api/for-topic", views.for_topic, name="for-topic"),
    path("topics/<slug:slug>/", views.topic, name="topic"),
    path("good-practices/new/", views.good_practice_new, name="good-practice-new"),
    path("review/", views.review_list, name="review"),
    path("review/<int:pk>/", views.review_item, name="review-item"),
    path("<slug:slug>/helpful/", views.helpful, name="helpful"),
    path("<slug:slug>/", views.article, name="article"),
]
