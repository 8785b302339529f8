from django.urls import path

from training import views

app_name = "training"
urlpatterns = [
    path("runs/<int:pk>/status/", views.run_status, name="status"),
    path("runs/<int:pk>/report/<str:name>", views.report_file, name="report"),
    path("runs/<int:pk>/download/checkpoint/", views.checkpoint_download, name="checkpoint_download"),
    path("runs/<int:pk>/download/report/", views.report_download, name="report_download"),
]
