from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Django's password reset by e-mail (templates/registration/password_reset_*.html); the form is
    # throttled per site, per client address and per e-mail address (config/throttling.py).
    path("accounts/password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("accounts/reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("api/research/v1/", include(("research_api.urls", "research-api"))),
    path("", include("annotator.urls")),
    path("", include("campaigns.urls")),
    path("admin/exports/", include("emotic_export.urls")),
    path("admin/training/", include("training.urls")),
    re_path(rf"^admin/(?P<old>{'|'.join(views.MOVED_ADMIN_PAGES)})/(?P<rest>.*)$", views.moved_admin_page),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script from ?script, not inline: the CSP allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

# Unknown URLs under /api/ answer the API's error contract; pages keep Django's 404 page.
handler400 = "config.api_errors.bad_request"
handler404 = "config.api_errors.not_found"

if settings.DEBUG and settings.STORAGE_BACKEND == "local":
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
