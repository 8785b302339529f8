from django.urls import path

from emotic_export import views

app_name = "emotic_export"
urlpatterns = [
    path("snapshots/<int:pk>/download/", views.download_snapshot, name="download"),
    path("snapshots/<int:pk>/status/", views.snapshot_status, name="status"),
]
