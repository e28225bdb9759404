"""A brokerage filter for lists that grow with the fleet: a bounded choice list, not every brokerage.

Django's related-field filter lists every brokerage in the sidebar (2,000 links on a big fleet); this one lists
the first SHOWN by name plus the one chosen, and keeps the ``brokerage__id__exact`` parameter, so links from a
brokerage's page (its mailboxes by state, its sync runs) select it here.
"""

from __future__ import annotations

from django.contrib import admin

from brokerages.models import Brokerage

SHOWN = 25


class BrokerageFilter(admin.SimpleListFilter):
    title = "brokerage"
    parameter_name = "brokerage__id__exact"
    field = "brokerage_id"  # the filtered model's path to the brokerage id

    def lookups(self, request, model_admin):
        choices = list(Brokerage.objects.order_by("name").values_list("pk", "name")[: SHOWN + 1])
        if len(choices) > SHOWN:
            choices = choices[:SHOWN]
            self.title = f"brokerage (first {SHOWN} by name; others from their page)"
        chosen = self.value()
        if chosen and chosen.isdigit() and int(chosen) not in {pk for pk, _ in choices}:
            choices += list(Brokerage.objects.filter(pk=int(chosen)).values_list("pk", "name"))
        return [(str(pk), name) for pk, name in choices]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(**{self.field: int(value)})


class MailboxBrokerageFilter(BrokerageFilter):
    """The same, for rows that belong to a mailbox (outgoing emails); Django's parameter name for that path."""

    parameter_name = "mailbox__brokerage__id__exact"
    field = "mailbox__brokerage_id"
