from django.apps import AppConfig


class BackendMoveConfig(AppConfig):
    name = "backend_move"
    verbose_name = "Backend moves (EWS ⇄ Microsoft Graph)"
    default_auto_field = "django.db.models.BigAutoField"
