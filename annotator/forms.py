"""Forms of the worker pages, and the admin's typed forms (control items, the protocol, instruction examples)."""

from django import forms
from django.contrib.auth.forms import UserCreationForm

from annotator.models import GoldItem, ProtocolVersion
from annotator.protocol import VALUE_FIELDS
from annotator.services.accounts import check_new_username
from annotator.services.errors import NameRefused
from catalog.models import Image
from emotic.annotation_arrays import AnnotationArrayError
from emotic.boxes import BoxError, validate_boxes
from emotic.gold import EmotionGold
from emotic.taxonomy import AGES, CATEGORY_NAMES, GENDERS, VAD_DIMENSIONS, VAD_MAX, VAD_MIN, categories_to_mask


class SignupForm(UserCreationForm):
    """Django's own sign-up form: username and password twice, with the password validators.

    The name may not be reserved nor look like an existing one (``services.accounts``).
    """

    email = forms.EmailField(
        required=False, label="E-mail (optional)",
        help_text="Used only to send you a link if you forget your password. Leave it empty if you prefer.",
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")

    def clean_username(self):
        username = super().clean_username()
        if username:
            try:
                check_new_username(username)
            except NameRefused as error:
                raise forms.ValidationError(f"“{username}” {error.reason}.", code="name_refused") from None
        return username


class AccountEmailForm(forms.Form):
    email = forms.EmailField(
        required=False, label="E-mail", help_text="Where a password-reset link is sent. Empty: no reset by e-mail."
    )


class DeleteAccountForm(forms.Form):
    password = forms.CharField(
        label="Your password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="To confirm that it is you who deletes this account.",
    )


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="What is this token for?", help_text="For example: my MTurk bridge.")


# ---------------------------------------------------------------- the admin's typed forms

CATEGORY_CHOICES = [(name, name) for name in CATEGORY_NAMES]


class RangeInput(forms.NumberInput):
    """A slider; ``annotator/range_values.js`` shows its value beside it."""

    input_type = "range"

    def __init__(self, low, high, step=1):
        super().__init__(attrs={"min": low, "max": high, "step": step, "class": "typed-range"})


class TypedMedia:
    css = {"all": ["annotator/typed_forms.css"]}
    js = ["annotator/range_values.js"]


class GoldItemForm(forms.ModelForm):
    """A control item's acceptable answers as ticks, sliders and choices, never as bit masks or JSON.

    Emotions: the categories an answer must pick one of and those it may
    pick, the VAD ranges, the genders and ages allowed (none ticked: any).
    Boxes: the image's people boxes to expect, ticked, plus any other box as
    four numbers on a line. The masks and the box list are written from these.
    """

    required_categories = forms.MultipleChoiceField(
        choices=CATEGORY_CHOICES, required=False, widget=forms.CheckboxSelectMultiple,
        label="Required categories", help_text="An acceptable answer picks at least one of these.",
    )
    allowed_categories = forms.MultipleChoiceField(
        choices=CATEGORY_CHOICES, required=False, widget=forms.CheckboxSelectMultiple,
        label="Allowed categories", help_text="An acceptable answer picks nothing outside these (the required ones are allowed).",
    )
    allowed_genders_choice = forms.MultipleChoiceField(
        choices=[(g, g) for g in GENDERS], required=False, widget=forms.CheckboxSelectMultiple,
        label="Allowed genders", help_text="None ticked: any.",
    )
    allowed_ages_choice = forms.MultipleChoiceField(
        choices=[(a, a) for a in AGES], required=False, widget=forms.CheckboxSelectMultiple,
        label="Allowed ages", help_text="None ticked: any.",
    )
    expected_people = forms.MultipleChoiceField(
        choices=[], required=False, widget=forms.CheckboxSelectMultiple,
        label="Expected boxes", help_text="The people a worker must box (each matched with at least the IoU below).",
    )
    other_boxes = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        label="Other expected boxes", help_text="One box per line: x1, y1, x2, y2 in pixels of the original image.",
    )

    class Meta:
        model = GoldItem
        fields = (
            "kind", "person", "image", "for_control", "for_qualification",
            "valence_min", "valence_max", "arousal_min", "arousal_max", "dominance_min", "dominance_max",
            "min_iou", "explanation", "show_explanation", "retired",
        )
        widgets = {
            **{f"{d}_{end}": RangeInput(VAD_MIN, VAD_MAX) for d in VAD_DIMENSIONS for end in ("min", "max")},
            "min_iou": RangeInput(0.05, 1, 0.05),
            "kind": forms.HiddenInput,
            "person": forms.HiddenInput,
            "image": forms.HiddenInput,
        }

    Media = TypedMedia
    field_order = (
        "required_categories", "allowed_categories",
        *[f"{d}_{end}" for d in VAD_DIMENSIONS for end in ("min", "max")],
        "allowed_genders_choice", "allowed_ages_choice", "expected_people", "other_boxes", "min_iou",
        "for_control", "for_qualification", "explanation", "show_explanation", "retired",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        item = self.instance
        if item.pk and not self.is_bound:
            self.initial.update(
                required_categories=item.required_categories,
                allowed_categories=item.allowed_categories,
                allowed_genders_choice=list(item.allowed_genders),
                allowed_ages_choice=list(item.allowed_ages),
            )
        image = self._image()
        people = list(image.people.filter(box_status="final").order_by("id")) if image is not None else []
        self.fields["expected_people"].choices = [
            (str(p.pk), f"P{n} ({p.x1}, {p.y1}) – ({p.x2}, {p.y2})") for n, p in enumerate(people, start=1)
        ]
        self._people = {str(p.pk): list(p.box) for p in people}
        if item.pk and not self.is_bound and item.kind == "boxes":
            boxes = [list(b) for b in item.expected_boxes]
            self.initial["expected_people"] = [pk for pk, box in self._people.items() if box in boxes]
            self.initial["other_boxes"] = "\n".join(
                ", ".join(str(v) for v in b) for b in boxes if b not in self._people.values()
            )
        kind = self.initial.get("kind") or item.kind or self.data.get("kind")
        hidden = ("expected_people", "other_boxes", "min_iou") if kind == "emotions" else (
            "required_categories", "allowed_categories", "allowed_genders_choice", "allowed_ages_choice",
            *[f"{d}_{end}" for d in VAD_DIMENSIONS for end in ("min", "max")],
        )
        for name in hidden:
            self.fields.pop(name, None)

    def _image(self):
        item = self.instance
        if item.image_id:
            return item.image
        pk = self.initial.get("image") or self.data.get("image")
        if pk:
            return Image.objects.filter(pk=pk).first()
        return None

    @property
    def kind(self) -> str:
        return self.initial.get("kind") or self.instance.kind or self.data.get("kind", "")

    def clean(self):
        data = super().clean()
        item = self.instance
        if data.get("kind") == "emotions":
            allowed = set(data.get("allowed_categories") or []) | set(data.get("required_categories") or [])
            try:
                gold = EmotionGold(
                    required_categories=frozenset(data.get("required_categories") or []),
                    allowed_categories=frozenset(allowed),
                    allowed_genders=frozenset(data.get("allowed_genders_choice") or []),
                    allowed_ages=frozenset(data.get("allowed_ages_choice") or []),
                    **{d: (data.get(f"{d}_min", VAD_MIN), data.get(f"{d}_max", VAD_MAX)) for d in VAD_DIMENSIONS},
                )
            except AnnotationArrayError as error:
                field = {"valence": "valence_min", "arousal": "arousal_min", "dominance": "dominance_min"}.get(
                    error.field, error.field
                )
                self.add_error(field if field in self.fields else None, error.reason)
                return data
            item.required_categories_mask = categories_to_mask(gold.required_categories)
            item.allowed_categories_mask = categories_to_mask(gold.allowed_categories)
            item.allowed_genders = [g for g in GENDERS if g in gold.allowed_genders]
            item.allowed_ages = [a for a in AGES if a in gold.allowed_ages]
        elif data.get("kind") == "boxes":
            boxes = [self._people[pk] for pk in data.get("expected_people") or [] if pk in self._people]
            for number, line in enumerate((data.get("other_boxes") or "").splitlines(), start=1):
                if not line.strip():
                    continue
                parts = [p for p in line.replace(",", " ").split() if p]
                if len(parts) != 4 or not all(p.lstrip("-").isdigit() for p in parts):
                    self.add_error("other_boxes", f"line {number}: four whole numbers x1, y1, x2, y2, got {line.strip()!r}")
                    return data
                boxes.append([int(p) for p in parts])
            image = self._image()
            if image is not None:
                try:
                    boxes = validate_boxes(boxes, image.width, image.height, field="expected_boxes")
                except BoxError as error:
                    self.add_error("other_boxes", error.reason)
                    return data
            item.expected_boxes = boxes
        return data


class ProtocolForm(forms.ModelForm):
    """The annotation protocol's values, typed and explained; saving makes a new version (``services.protocol``)."""

    applied_to = forms.ChoiceField(
        choices=[
            ("all", "Refuse the change if it would strand work in progress"),
            ("new_work", "Apply it to new work only: work already begun keeps the values in force"),
        ],
        initial="all", widget=forms.RadioSelect, label="Work in progress",
    )
    note = forms.CharField(max_length=300, required=False, label="Why (kept with the version)")

    class Meta:
        model = ProtocolVersion
        fields = VALUE_FIELDS
        widgets = {
            "control_rate": RangeInput(0, 1, 0.01),
            "trust_min_accuracy": RangeInput(0, 1, 0.01),
            "qualification_pass_rate": RangeInput(0, 1, 0.01),
            "instructions": forms.Textarea(attrs={"rows": 10, "cols": 90}),
            "controls_exhausted": forms.RadioSelect,
        }

    Media = TypedMedia

    def _post_clean(self):
        """No model validation here: ``services.protocol`` checks every rule and names the field at fault."""

    def values(self) -> dict:
        return {field: self.cleaned_data[field] for field in VALUE_FIELDS}


class InstructionExamplesForm(forms.Form):
    """Per category, the accepted answers offered as examples, ticked where chosen."""

    def __init__(self, candidates: dict[str, list], chosen: dict[str, list[int]], *args, **kwargs):
        super().__init__(*args, **kwargs)
        for category, answers in candidates.items():
            self.fields[category] = forms.MultipleChoiceField(
                choices=[(str(a.pk), str(a.pk)) for a in answers], required=False,
                widget=forms.CheckboxSelectMultiple, label=category,
            )
            self.initial[category] = [str(i) for i in chosen.get(category, [])]

    def examples(self) -> dict[str, list[int]]:
        return {c: [int(i) for i in ids] for c, ids in self.cleaned_data.items() if ids}
