from django.urls import path

from .api import EmailStatusView, MailboxEmailsView

urlpatterns = [
    path("mailboxes/<int:mailbox_id>/emails/", MailboxEmailsView.as_view(), name="mailbox-emails"),
    path("emails/<uuid:pk>/", EmailStatusView.as_view(), name="email-status"),
]
