"""crm.web.htmx: the one error-toast answer every view and the error middleware give htmx."""

import json
import pathlib

from django.http import HttpResponse

from crm.web.htmx import add_error_toast

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_an_error_toast_keeps_the_status_shows_the_message_and_swaps_nothing():
    response = add_error_toast(HttpResponse(status=422), "Stage no longer exists.")

    assert response.status_code == 422
    assert json.loads(response["HX-Trigger"]) == {
        "showToast": {"level": "error", "message": "Stage no longer exists."}
    }
    assert response["HX-Reswap"] == "none"


def test_no_view_writes_the_error_toast_headers_by_hand():
    by_hand = [
        str(path.relative_to(ROOT))
        for app in ("crm", "leads", "pipelines")
        for path in (ROOT / app).rglob("*.py")
        if '["HX-Reswap"]' in path.read_text() or "reswap(" in path.read_text()
    ]
    assert by_hand == ["crm/web/htmx.py"]


def _request(rf, *, htmx: bool):
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django_htmx.middleware import HtmxDetails

    headers = {"HX-Request": "true"} if htmx else {}
    request = rf.post("/leads/1/stage/", headers=headers)
    request.htmx = HtmxDetails(request)
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


def test_a_refusal_is_a_toast_to_htmx_and_a_message_on_the_page_it_came_from(rf):
    from django.contrib.messages import get_messages

    from crm.web.htmx import refuse

    to_htmx = refuse(_request(rf, htmx=True), "Not allowed.", back="/leads/1/", status=503)
    assert (to_htmx.status_code, to_htmx["HX-Reswap"]) == (503, "none")

    plain = _request(rf, htmx=False)
    response = refuse(plain, "Not allowed.", back="/leads/1/")
    assert (response.status_code, response["Location"]) == (302, "/leads/1/")
    assert [str(m) for m in get_messages(plain)] == ["Not allowed."]


def test_a_done_action_redirects_htmx_with_a_full_page_load(rf):
    from crm.web.htmx import redirect

    assert redirect(_request(rf, htmx=True), "/leads/")["HX-Redirect"] == "/leads/"
    assert redirect(_request(rf, htmx=False), "/leads/")["Location"] == "/leads/"
