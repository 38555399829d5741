"""The admin's pages for capture forms, webhooks and the deliveries' log."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from leads.capture import FIELDS
from leads.capture_models import HONEYPOT_FIELD
from leads.models import CaptureForm, Webhook, WebhookDelivery
from tests.factories import CaptureFormFactory, UserFactory, WebhookFactory, default_stage

pytestmark = pytest.mark.django_db


def test_a_capture_forms_page_shows_the_html_to_copy_with_its_endpoint(admin_client):
    form = CaptureFormFactory(name="Contact form")

    page = admin_client.get(reverse("admin:leads_captureform_change", args=[form.pk])).text

    endpoint = f"http://testserver/capture/{form.public_key}/"
    assert f"&lt;form method=&quot;post&quot; action=&quot;{endpoint}&quot;&gt;" in page
    assert f"name=&quot;{HONEYPOT_FIELD}&quot;" in page
    assert f"curl -X POST {endpoint}" in page


def test_the_snippet_has_a_field_for_what_a_post_may_carry(admin_client):
    form = CaptureFormFactory(name="Contact form")
    page = admin_client.get(reverse("admin:leads_captureform_change", args=[form.pk])).text

    for name in FIELDS:
        if name != "title":  # the title is made from who wrote
            assert f"name=&quot;{name}&quot;" in page, name


def test_an_admin_makes_a_capture_form_for_an_open_stage_only(admin_client):
    url = reverse("admin:leads_captureform_add")
    data = {"name": "Site", "active": "on", "stage": default_stage("Won").pk, "rate_limit": 60}

    refused = admin_client.post(url, data)
    made = admin_client.post(url, data | {"stage": default_stage("New").pk})

    assert refused.status_code == 200
    assert "Select a valid choice" in refused.text
    assert made.status_code == 302
    assert CaptureForm.objects.get().stage == default_stage("New")


def test_issuing_a_new_key_revokes_the_old_one(admin_client):
    form = CaptureFormFactory()
    old = form.public_key

    admin_client.post(
        reverse("admin:leads_captureform_changelist"),
        {"action": "issue_new_key", "_selected_action": [form.pk]},
    )

    form.refresh_from_db()
    assert form.public_key != old
    assert CaptureForm.objects.by_key(old) is None


def test_a_new_webhooks_secret_is_shown_once(admin_client):
    response = admin_client.post(
        reverse("admin:leads_webhook_add"),
        {
            "name": "ERP",
            "url": "https://erp.example.com/hook",
            "events": ["lead.won"],
            "active": "on",
        },
        follow=True,
    )

    hook = Webhook.objects.get()
    assert hook.events == ["lead.won"]
    assert hook.secret.startswith("whsec_")
    assert hook.secret in response.text
    again = admin_client.get(reverse("admin:leads_webhook_change", args=[hook.pk])).text
    assert hook.secret not in again
    assert hook.secret_hint() in again


def test_a_webhook_to_an_internal_address_is_refused(admin_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = admin_client.post(
        reverse("admin:leads_webhook_add"),
        {"name": "Meta", "url": "http://169.254.169.254/latest", "events": ["lead.won"]},
    )

    assert response.status_code == 200
    assert "internal address" in response.text
    assert not Webhook.objects.exists()


def test_a_webhook_needs_a_kind_of_event(admin_client):
    response = admin_client.post(
        reverse("admin:leads_webhook_add"), {"name": "ERP", "url": "https://erp.example.com/"}
    )

    assert "Choose at least one kind of event." in response.text


def test_the_deliveries_log_shows_how_each_went_and_retries_now(admin_client):
    hook = WebhookFactory(name="ERP")
    failed = WebhookDelivery.objects.create(
        webhook=hook, event="lead.won", lead_id=7, body="{}", status="failed", attempts=10,
        last_status_code=500, last_error="HTTP 500: down", next_attempt_at=None,
    )  # fmt: skip
    url = reverse("admin:leads_webhookdelivery_changelist")

    page = admin_client.get(url).text
    assert "HTTP 500: down" in page
    assert "Failed (gave up)" in page

    response = admin_client.post(
        url, {"action": "retry_now", "_selected_action": [failed.pk]}, follow=True
    )

    failed.refresh_from_db()
    assert failed.status == "pending"
    assert failed.next_attempt_at is not None
    assert "1 delivery due now" in response.text


def test_the_deliveries_log_reads_a_bounded_number_of_queries(
    admin_client, django_assert_max_num_queries
):
    hooks = WebhookFactory.create_batch(3)
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(webhook=hooks[n % 3], event="lead.created", body="{}") for n in range(60)
    )

    with django_assert_max_num_queries(12):
        admin_client.get(reverse("admin:leads_webhookdelivery_changelist"))


def test_staff_without_the_permission_cannot_retry(client):
    staff = UserFactory(username="viewer", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
    client.force_login(staff)
    delivery = WebhookDelivery.objects.create(
        webhook=WebhookFactory(), event="lead.won", body="{}", status="failed", next_attempt_at=None
    )

    client.post(
        reverse("admin:leads_webhookdelivery_changelist"),
        {"action": "retry_now", "_selected_action": [delivery.pk]},
    )

    delivery.refresh_from_db()
    assert delivery.status == "failed"
