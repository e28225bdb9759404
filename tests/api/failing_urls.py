"""A URLconf with a view that fails, for tests/api/test_request_limits.py: how a bug under /api/ is answered."""

from django.urls import include, path


def broken_view(request):
    raise RuntimeError("a bug")


urlpatterns = [path("api/broken/", broken_view), path("", include("engage_sync.urls"))]
