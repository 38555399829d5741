"""An API client per role, each with a personal token: ``api(user)`` answers a client
whose requests send JSON and ``Authorization: Bearer <token>``."""

import json

import pytest
from django.test import Client

from crm.models import ApiToken


class ApiClient:
    """Django's test client speaking JSON with a token (``token=None``: no credentials)."""

    def __init__(self, token: str | None):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _body(self, data):
        return data if isinstance(data, str | bytes) else json.dumps(data)

    def get(self, path, params=None, **headers):
        return self.client.get(path, params or {}, headers=self.headers | headers)

    def post(self, path, data=None, **headers):
        return self.client.post(
            path,
            self._body(data if data is not None else {}),
            content_type="application/json",
            headers=self.headers | headers,
        )

    def patch(self, path, data=None, **headers):
        return self.client.patch(
            path,
            self._body(data if data is not None else {}),
            content_type="application/json",
            headers=self.headers | headers,
        )

    def delete(self, path, **headers):
        return self.client.delete(path, headers=self.headers | headers)


def token_for(user) -> str:
    _, secret = ApiToken.objects.issue(user=user, name=f"{user.username}'s script")
    return secret


@pytest.fixture
def api():
    """``api(user)``: an ApiClient with a new token of ``user`` (None: anonymous)."""
    return lambda user=None: ApiClient(token_for(user) if user is not None else None)
