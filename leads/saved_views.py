"""Saved views of the lead list: its filters and sort under a name, and each user's default.

A view stores the list's query string as the list reads it (``leads.saved_view_pages``
decides what that is); it is personal, or shared with everyone by someone allowed to
share. A user's default view opens when they open the list without asking anything.
"""

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class SavedViewQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The user's own views and everyone's shared ones."""
        return self.filter(Q(owner=user) | Q(shared=True))

    def with_default_for(self, user):
        """Each view with ``is_default``: whether it is the user's default."""
        defaults = DefaultView.objects.filter(user=user, view=OuterRef("pk"))
        return self.annotate(is_default=Exists(defaults))

    def default_for(self, user):
        """The user's default view, if they may still see it; else None."""
        return self.visible_to(user).filter(defaults__user=user).first()


class SavedView(models.Model):
    name = models.CharField(_("name"), max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="saved_views",
        verbose_name=_("owner"),
    )
    shared = models.BooleanField(
        _("shared"), default=False, help_text=_("Everyone sees it in their views.")
    )
    #: The list's query string without its place (page, cursor, count).
    query = models.TextField(_("query"), blank=True)
    #: How each filter value read when the view was saved ("stage=12" → "Stage: Proposal"):
    #: what to call a stage or person that no longer exists when the view opens.
    names = models.JSONField(_("names"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = SavedViewQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_view_unique_name"),
        ]
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        permissions = [("share_savedview", "Can share saved views with everyone")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("leads:saved_view_open", args=[self.pk])

    def make_default_for(self, user) -> None:
        DefaultView.objects.update_or_create(user=user, defaults={"view": self})

    def stop_sharing(self) -> None:
        """Only its owner sees it again: it stops being anyone else's default."""
        self.shared = False
        self.save(update_fields=["shared", "updated_at"])
        self.defaults.exclude(user_id=self.owner_id).delete()


class DefaultView(models.Model):
    """The view a user's lead list opens with when they ask for nothing else."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="default_list_view"
    )
    view = models.ForeignKey(
        SavedView, on_delete=models.CASCADE, related_name="defaults", verbose_name=_("view")
    )

    class Meta:
        verbose_name = _("default view")
        verbose_name_plural = _("default views")

    def __str__(self):
        return f"{self.user}: {self.view}"
