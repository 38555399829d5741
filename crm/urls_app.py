"""Client and contact pages (the project's root URL map stays in crm/urls.py)."""

from django.urls import path

from . import language, token_views, views

app_name = "crm"

urlpatterns = [
    path("clients/", views.ClientListView.as_view(), name="client_list"),
    path("clients/new/", views.ClientCreateView.as_view(), name="client_create"),
    path("clients/<int:pk>/", views.ClientDetailView.as_view(), name="client_detail"),
    path("clients/<int:pk>/edit/", views.ClientUpdateView.as_view(), name="client_update"),
    path("clients/<int:pk>/delete/", views.ClientDeleteView.as_view(), name="client_delete"),
    path("contacts/", views.ContactListView.as_view(), name="contact_list"),
    path("contacts/new/", views.ContactCreateView.as_view(), name="contact_create"),
    path("contacts/<int:pk>/", views.ContactDetailView.as_view(), name="contact_detail"),
    path("contacts/<int:pk>/edit/", views.ContactUpdateView.as_view(), name="contact_update"),
    path("contacts/<int:pk>/delete/", views.ContactDeleteView.as_view(), name="contact_delete"),
    path("settings/language/", language.LanguageView.as_view(), name="language"),
    path("settings/api-tokens/", token_views.ApiTokenListView.as_view(), name="api_tokens"),
    path(
        "settings/api-tokens/new/",
        token_views.ApiTokenCreateView.as_view(),
        name="api_token_create",
    ),
    path(
        "settings/api-tokens/<int:pk>/revoke/",
        token_views.ApiTokenRevokeView.as_view(),
        name="api_token_revoke",
    ),
]
