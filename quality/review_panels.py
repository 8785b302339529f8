"""Panels that other apps add to an image's review page, without the review knowing them.

The training app adds a trained model's predictions this way: quality (and
annotation) know nothing of models. A panel builds its content for one image
from the request; the page shows its ``template`` above the people, and its
``person_template`` inside each person's table with that person's row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.http import HttpRequest

from catalog.models import Image


@dataclass
class PanelContent:
    context: dict = field(default_factory=dict)  # for the panel's own template
    per_person: dict[int, dict] = field(default_factory=dict)  # person id -> that person's row


@dataclass(frozen=True)
class ReviewPanel:
    name: str
    template: str
    build: Callable[[HttpRequest, Image], PanelContent]
    person_template: str = ""


_panels: dict[str, ReviewPanel] = {}


def register_review_panel(panel: ReviewPanel) -> None:
    """Add ``panel`` to every image's review page (an app's ``ready``); registering a name again replaces it."""
    _panels[panel.name] = panel


def registered_panels() -> list[ReviewPanel]:
    return list(_panels.values())


@dataclass(frozen=True)
class ShownPanel:
    panel: ReviewPanel
    content: PanelContent


def build_panels(request: HttpRequest, image: Image) -> list[ShownPanel]:
    return [ShownPanel(panel, panel.build(request, image)) for panel in registered_panels()]


def unregister_review_panel(name: str) -> None:
    _panels.pop(name, None)
