"""Forms of the worker pages."""

from django import forms
from django.contrib.auth.forms import UserCreationForm

from annotator.services.accounts import check_new_username
from annotator.services.errors import NameRefused


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
