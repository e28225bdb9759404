from django.urls import path

from .api import ContactsView, ContactView, EventsView, EventView

urlpatterns = [
    path("mailboxes/<int:mailbox_id>/contacts/", ContactsView.as_view(), name="mailbox-contacts"),
    path("mailboxes/<int:mailbox_id>/contacts/<uuid:record_id>/", ContactView.as_view(), name="mailbox-contact"),
    path("mailboxes/<int:mailbox_id>/events/", EventsView.as_view(), name="mailbox-events"),
    path("mailboxes/<int:mailbox_id>/events/<uuid:record_id>/", EventView.as_view(), name="mailbox-event"),
]
