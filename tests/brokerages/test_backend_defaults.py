"""Which backend a brokerage gets: a new Microsoft 365 brokerage Microsoft Graph (Exchange Online ends EWS), an
Exchange Server on-premises EWS, an existing brokerage the one it has."""

from __future__ import annotations

import pytest
from django.urls import reverse

from brokerages.forms import BrokerageForm
from brokerages.models import Brokerage

from .conftest import change_form_data
from .test_brokerage_form import new_brokerage_data

ON_PREMISES_EWS_URL = "https://mail.harborhomes.com/EWS/Exchange.asmx"


def test_the_add_page_offers_microsoft_graph_without_a_not_available_label(admin_client):
    # When staff open the page to add a brokerage
    html = admin_client.get(reverse("admin:brokerages_brokerage_add")).content.decode()

    # Then Microsoft Graph is the backend selected, and nothing calls it unavailable
    assert '<option value="graph" selected>Microsoft Graph</option>' in html
    assert '<option value="ews">Exchange Web Services (EWS)</option>' in html
    assert "not available" not in html


@pytest.mark.parametrize(
    ("ews_url", "expected"),
    [("https://outlook.office365.com/EWS/Exchange.asmx", "graph"), ("https://outlook.office.com/EWS/Exchange.asmx", "graph"),
     (ON_PREMISES_EWS_URL, "ews")],
    ids=["microsoft-365", "microsoft-365-other-host", "exchange-server-on-premises"],
)
def test_a_new_brokerage_left_at_the_offered_backend_gets_graph_on_microsoft_365_and_ews_on_premises(
    db, ews_url, expected
):
    # Given the add form as offered (the backend untouched), with the brokerage's EWS URL
    form = BrokerageForm(new_brokerage_data(mailbox_backend="graph", ews_url=ews_url))

    # When it is saved
    assert form.is_valid(), form.errors
    brokerage = form.save()

    # Then a Microsoft 365 brokerage is on Graph, an Exchange Server on-premises one on EWS (which it keeps)
    assert Brokerage.objects.get(pk=brokerage.pk).mailbox_backend == expected


def test_staff_who_choose_ews_for_a_new_microsoft_365_brokerage_get_ews(db):
    form = BrokerageForm(new_brokerage_data(mailbox_backend="ews"))
    assert form.is_valid(), form.errors
    assert form.save().mailbox_backend == "ews"


def test_an_existing_ews_brokerage_keeps_its_backend_when_edited(make_brokerage):
    # Given a Microsoft 365 brokerage created on EWS before Graph was the default
    brokerage = make_brokerage(mailbox_backend="ews")
    assert brokerage.ews_url.startswith("https://outlook.office365.com/")

    # When staff save its page unchanged
    form = BrokerageForm(change_form_data(brokerage), instance=brokerage)
    assert form.is_valid(), form.errors
    form.save()

    # Then it is still on EWS: only new brokerages are offered Graph
    assert Brokerage.objects.get(pk=brokerage.pk).mailbox_backend == "ews"
