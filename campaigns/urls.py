"""Routes of the participants' pages (/c/<slug>/...) and of Prolific's webhooks (/hooks/prolific/)."""

from django.urls import path

from campaigns import views

app_name = "campaigns"
urlpatterns = [
    path("c/<slug:slug>/", views.entry, name="entry"),
    path("c/<slug:slug>/consent/", views.consent, name="consent"),
    path("c/<slug:slug>/done/", views.done, name="done"),
    path("hooks/prolific/", views.prolific_hook, name="prolific-hook"),
]
