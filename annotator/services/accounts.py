"""Account names a person may take at sign-up: no reserved name, no look-alike of an existing one.

Three rules, checked by ``check_new_username`` (the sign-up form calls it):

- *reserved*: a name starting with one of ``RESERVED_USERNAME_PREFIXES``
  (``emotic-original-``, ``admin``, ``root``, ``system`` by default; the
  importer's ``emotic-original-`` and erased accounts' ``erased-`` always) is the platform's own, compared
  case-insensitively and by skeleton, so ``Admin`` and ``аdmin`` (Cyrillic а)
  are refused as ``admin`` is;
- *look-alike*: a name whose skeleton is an existing name's skeleton imitates
  it (``Worker1``, ``workerI`` and ``worker1`` are one name to a reader);
- *mixed scripts*: a name mixing alphabets with a character that can pass for
  one of another alphabet (``confusable_homoglyphs.is_dangerous``).

A skeleton follows Unicode TR39: NFKC, then every character replaced by the
representative of its class of confusables (the classes of Unicode's
``confusables.txt``, as the ``confusable_homoglyphs`` package ships them),
then case-folded, repeated until nothing changes; each name has two, to
compare without regard to case (``name_skeletons``). Every user's skeletons are
kept in ``AccountName`` (written when a user is saved, ``annotator.receivers``),
so a new name costs one indexed query, whatever the number of accounts.

Two sign-ups of look-alike names at the same instant can both pass (nothing
locks the check); the sign-up page is throttled and a person would gain
nothing but a second look-alike, which an admin can rename.
"""

from __future__ import annotations

import functools
import unicodedata
from collections import Counter

from confusable_homoglyphs import confusables
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Q

from annotator.models import AccountName
from annotator.services.errors import NameRefused

# Always reserved, whatever the setting: the names the EMOTIC importer gives its accounts.
ORIGINAL_ANNOTATOR_PREFIX = "emotic-original-"
# Always reserved too: the names erased accounts are given (services/erasure.py).
ERASED_PREFIX = "erased-"
# Marks the package's data wraps right-to-left characters in; they are not part of the character.
_DIRECTION_MARKS = dict.fromkeys(map(ord, "\u200e\u200f"))


@functools.cache
def _prototypes() -> dict[str, str]:
    """Character -> the prototype of its confusable class (characters that are their own prototype are left out).

    The package lists each pair of ``confusables.txt`` both ways, so the
    classes are rebuilt here (union-find) and each gets one representative:
    its sequence of several characters if it has one (``rn`` for ``m``; only a
    prototype is ever a sequence), else the character that pairs with the most
    others (the prototype every other one maps to), plain ASCII first.
    """
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    degree: Counter[str] = Counter()
    for source, entries in confusables.confusables_data.items():
        source = source.translate(_DIRECTION_MARKS)
        for entry in entries:
            target = entry["c"].translate(_DIRECTION_MARKS)
            if not source or not target or source == target:
                continue
            degree[source] += 1
            degree[target] += 1
            parent[find(source)] = find(target)
    classes: dict[str, list[str]] = {}
    for node in list(parent):
        classes.setdefault(find(node), []).append(node)
    mapping = {}
    for members in classes.values():
        prototype = min(members, key=lambda m: (len(m) == 1, -degree[m], not m.isascii(), m))
        mapping.update({member: prototype for member in members if len(member) == 1 and member != prototype})
    return mapping


def _skeleton(text: str, fold_first: bool) -> str:
    prototypes = _prototypes()
    text = unicodedata.normalize("NFKC", text)
    for _ in range(4):  # prototypes are their own prototypes: this settles in one or two rounds
        source = text.casefold() if fold_first else text
        mapped = "".join(prototypes.get(c, c) for c in unicodedata.normalize("NFD", source))
        mapped = unicodedata.normalize("NFD", mapped.casefold())
        if mapped == text:
            break
        text = mapped
    return text


def name_skeletons(name: str) -> tuple[str, str]:
    """What ``name`` looks like, read without regard to case: (folded, cased).

    Case and look-alikes do not commute: "ADMIN" folds to "admin", yet its
    "I" alone passes for "l"; Cyrillic "ВОВ" passes for "BOB", yet folds to
    "вов", which does not pass for "bob". So two skeletons: *folded*, case
    folded before the look-alikes are replaced (ADMIN = admin), and *cased*,
    replaced first, then folded (ВОВ = BOB). Two names are one to a reader
    when either skeleton is the same.
    """
    return _skeleton(name, fold_first=True), _skeleton(name, fold_first=False)


def reserved_prefixes() -> list[str]:
    return list(dict.fromkeys([ORIGINAL_ANNOTATOR_PREFIX, ERASED_PREFIX, *settings.RESERVED_USERNAME_PREFIXES]))


def check_new_username(name: str) -> None:
    """Raise ``NameRefused`` (field ``username``) when a person may not take ``name``."""
    folded, cased = name_skeletons(name)
    for prefix in reserved_prefixes():
        # In each case it may be written: "AdMlN" (a small L) passes for "ADMIN", not for "admin".
        variants = [name_skeletons(v) for v in {prefix, prefix.lower(), prefix.upper(), prefix.capitalize()}]
        if any(folded.startswith(f) or cased.startswith(c) for f, c in variants):
            raise NameRefused(
                f"is reserved: names starting with “{prefix}” (in any case or look-alike letters) "
                "belong to the platform's own accounts"
            )
    if confusables.is_dangerous(name):
        raise NameRefused(
            "mixes alphabets with letters that look alike (such as a Cyrillic “а” among Latin letters): "
            "write it in one alphabet"
        )
    if AccountName.objects.filter(Q(skeleton_folded=folded) | Q(skeleton_cased=cased)).exists():
        raise NameRefused("looks like the name of an existing account: choose one that cannot be taken for another")


def record_name(user: AbstractBaseUser, using: str | None = None) -> None:
    """Keep the user's skeletons for ``check_new_username`` (called whenever a user is saved, in its database)."""
    folded, cased = name_skeletons(user.get_username())
    AccountName.objects.db_manager(using).update_or_create(
        user_id=user.pk, defaults={"skeleton_folded": folded, "skeleton_cased": cased}
    )


def set_email(user: AbstractBaseUser, email: str) -> None:
    """The address a password-reset link is sent to (empty: none)."""
    user.email = email.strip()
    user.save(update_fields=["email"])
