"""Routes of the worker pages (``/work/``), sign-up, and the worker API (``/api/``)."""

from django.urls import include, path

from annotator import api, views

page_patterns = [
    path("", views.work_home, name="home"),
    path("annotate/", views.annotate, name="annotate"),
    path("history/", views.history, name="history"),
    path("instructions/", views.instructions, name="instructions"),
    path("instructions/examples/<int:example_id>/picture/", views.instruction_example_picture, name="instruction-example"),
    path("api-tokens/", views.api_tokens, name="api-tokens"),
    path("api-tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke-token"),
    path("account/", views.account, name="account"),
    path("account/delete/", views.delete_account, name="delete-account"),
]

api_patterns = [
    path("tasks/next/", api.NextTaskView.as_view(), name="next-task"),
    path("tasks/<int:task_id>/submit/", api.SubmitTaskView.as_view(), name="submit-task"),
    path("tasks/<int:task_id>/skip/", api.SkipTaskView.as_view(), name="skip-task"),
    path("tasks/<int:task_id>/report/", api.ReportTaskView.as_view(), name="report-task"),
    path("tasks/<int:task_id>/image/", api.TaskImageView.as_view(), name="task-image"),
    path("me/", api.WorkerStatusView.as_view(), name="me"),
    path("history/", api.HistoryView.as_view(), name="history"),
]

urlpatterns = [
    path("accounts/signup/", views.signup, name="signup"),
    path("work/", include((page_patterns, "annotator"))),
    path("api/", include((api_patterns, "annotator-api"))),
]
