"""Client and contact forms: friendly messages; the models validate email, website, phone."""

from django import forms
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .models import ApiToken, Client, Contact

PHONE_HELP = _("International numbers welcome, for example +31 20 123 4567.")


class ClientForm(forms.ModelForm):
    """Create and edit a client."""

    class Meta:
        model = Client
        fields = ["name", "kind", "email", "phone", "website", "address", "notes"]
        widgets = {
            "name": forms.TextInput(attrs={"autofocus": True, "maxlength": 255}),
            "email": forms.EmailInput(attrs={"autocomplete": "off"}),
            "phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
            "website": forms.URLInput(attrs={"placeholder": "https://example.com"}),
            "address": forms.Textarea(attrs={"rows": 3}),
            "notes": forms.Textarea(attrs={"rows": 4}),
        }
        error_messages = {
            "name": {"required": _("Name is required.")},
            "email": {"invalid": _("Enter a valid email address, for example name@example.com.")},
            "website": {
                "invalid": _("Enter a valid web address, for example https://example.com.")
            },
        }
        help_texts = {"phone": PHONE_HELP}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class ContactForm(forms.ModelForm):
    """Create and edit a contact; it belongs to a living client (or keeps its own)."""

    class Meta:
        model = Contact
        fields = ["name", "client", "job_title", "email", "phone"]
        widgets = {
            "name": forms.TextInput(attrs={"autofocus": True, "maxlength": 255}),
            "email": forms.EmailInput(attrs={"autocomplete": "off"}),
            "phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
        }
        error_messages = {
            "name": {"required": _("Name is required.")},
            "client": {
                "required": _("Choose a client."),
                "invalid_choice": _("Choose a client from the list."),
            },
            "email": {"invalid": _("Enter a valid email address, for example name@example.com.")},
        }
        help_texts = {"phone": PHONE_HELP}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        client = self.fields["client"]
        # A contact whose client was deleted meanwhile can still be saved as it is.
        client.queryset = Client.objects.filter(
            Q(deleted_at__isnull=True) | Q(pk=self.instance.client_id)
        )
        client.empty_label = gettext("Choose a client")


class ApiTokenForm(forms.ModelForm):
    """Name a new personal API token."""

    class Meta:
        model = ApiToken
        fields = ["name"]
        widgets = {"name": forms.TextInput(attrs={"maxlength": 100, "autocomplete": "off"})}
        labels = {"name": _("Token name")}
        help_texts = {"name": _("What it is for, so you know which to revoke: “Website sync”.")}
        error_messages = {
            "name": {
                "required": _("Name the token."),
                "max_length": _("A name can be at most 100 characters (it has %(show_value)d)."),
            }
        }

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
