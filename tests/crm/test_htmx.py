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
