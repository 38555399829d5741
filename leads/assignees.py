"""The assign picker's people: the name it lists each active user by, and who a typed
name means.

The picker lists a user by their full name, or by their username when they have none.
A full name that another active user also goes by (as their full name or their
username; case and spacing aside) is listed with the username beside it, "Anna de Vries
(anna2)", so that every name in the list means one user. ``find_assignee`` reads back a
listed name first, then what people type by hand: a full name or a username, "Full Name
(username)", or an id. Where what was typed fits several users, it refuses rather than
guesses.

Both read every active user, in one query: the picker lists them all anyway, and only
beside all the others is a name known to be one person's.
"""

from collections import Counter
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.web.memo import per_request
from crm.web.params import whole_number

NOT_FOUND = gettext_lazy("User not found.")


def active_users():
    """The users the picker offers: the active ones, with what it shows of them."""
    users = get_user_model().objects.filter(is_active=True)
    return users.only("username", "first_name", "last_name")


@per_request
def active_user_list() -> list[AbstractUser]:
    """The active users by first name, read once a request (``crm.web.memo``): the list's
    owner filter and its bulk toolbar's picker both draw them."""
    return list(active_users().order_by("first_name", "username"))


def full_name(user: AbstractUser) -> str:
    """The user's first and last name, single-spaced ("" when they have neither)."""
    return " ".join(user.get_full_name().split())


def same(text: str) -> str:
    """``text`` as names compare: spacing and case aside."""
    return " ".join(text.split()).casefold()


def listed_names(users: Iterable[AbstractUser]) -> list[tuple[str, AbstractUser]]:
    """Each user with the name the picker lists them by, sorted by that name."""
    users = list(users)
    goes_by = Counter(
        name
        for user in users
        for name in {same(full_name(user)), same(user.get_username())}
        if name
    )
    listed = []
    for user in users:
        name = full_name(user)
        if not name:
            name = user.get_username()  # one user's already
        elif goes_by[same(name)] > 1:
            name = f"{name} ({user.get_username()})"
        listed.append((name, user))
    return sorted(listed, key=lambda item: (same(item[0]), item[0]))


def find_assignee(typed: str) -> AbstractUser:
    """The active user ``typed`` names in the assign picker.

    Tried in turn, the first that fits anyone deciding, case and spacing aside: a name
    the picker lists; a full name or a username; "Full Name (username)"; an id. Raises
    ``ValidationError`` when nobody fits, or when several do (two people with the same
    full name, or one's full name another's username): taking one would be a guess.
    """
    wanted = same(typed)
    if not wanted:
        raise ValidationError(NOT_FOUND, code="not_found")
    pk = whole_number(typed.strip())
    ways = (
        lambda name, user: same(name) == wanted,
        lambda name, user: wanted in (same(full_name(user)), same(user.get_username())),
        lambda name, user: same(f"{full_name(user)} ({user.get_username()})") == wanted,
        lambda name, user: user.pk == pk,
    )
    listed = listed_names(active_users())
    for fits in ways:
        found = [user for name, user in listed if fits(name, user)]
        if len(found) > 1:
            called = next(
                (full_name(user) for user in found if same(full_name(user)) == wanted),
                " ".join(typed.split()),
            )
            raise ValidationError(
                _("Several users are called %(name)s: pick one from the list.") % {"name": called},
                code="ambiguous",
            )
        if found:
            return found[0]
    raise ValidationError(NOT_FOUND, code="not_found")
