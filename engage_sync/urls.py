from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from ops.metrics import metrics_view

admin.site.site_header = "Engage Sync"
admin.site.site_title = "Engage Sync"
admin.site.index_title = "Brokerages, mailboxes and sync health"
# The app list beside every page takes 300 px of a 1,400 px laptop screen from the lists' key columns; the
# breadcrumbs and the home page lead everywhere it does.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include("outbox.urls")),
    path("api/", include("sync.urls")),
    path("metrics", metrics_view, name="metrics"),  # Prometheus; bearer token METRICS_TOKEN (deploy/README.md)
]
