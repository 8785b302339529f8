"""Forms of the worker pages."""

from django import forms
from django.contrib.auth.forms import UserCreationForm

from annotator.services.accounts import check_new_username
from annotator.services.errors import NameRefused


class SignupForm(UserCreationForm):
    """Django's own sign-up form: username and password twice, with the password validators.

    The name may not be reserved nor look like an existing one (``services.accounts``).
    """

    class Meta(UserCreationForm.Meta):
        fields = ("username",)

    def clean_username(self):
        username = super().clean_username()
        if username:
            try:
                check_new_username(username)
            except NameRefused as error:
                raise forms.ValidationError(f"“{username}” {error.reason}.", code="name_refused") from None
        return username


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="What is this token for?", help_text="For example: my MTurk bridge.")
