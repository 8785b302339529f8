"""Routes of the researcher API, under /api/research/v1/."""

from django.urls import path

from research_api import api

urlpatterns = [
    path("images/", api.ImageList.as_view(), name="images"),
    path("people/", api.PersonList.as_view(), name="people"),
    path("answers/", api.AnswerList.as_view(), name="answers"),
    path("agreement/", api.DatasetFigures.as_view(), name="agreement"),
    path("agreement/people/", api.PersonAgreementList.as_view(), name="person-agreement"),
    path("snapshots/", api.SnapshotList.as_view(), name="snapshots"),
    path("snapshots/<int:pk>/", api.SnapshotDetail.as_view(), name="snapshot"),
    path("snapshots/<int:pk>/archive/", api.SnapshotArchive.as_view(), name="snapshot-archive"),
    path("training-runs/", api.RunList.as_view(), name="training-runs"),
    path("training-runs/<int:pk>/", api.RunDetail.as_view(), name="training-run"),
    path("crawl-jobs/", api.CrawlJobList.as_view(), name="crawl-jobs"),
    path("crawl-jobs/<int:pk>/", api.CrawlJobDetail.as_view(), name="crawl-job"),
]
