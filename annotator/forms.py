"""Forms of the worker pages."""

from django import forms
from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):
    """Django's own sign-up form: username and password twice, with the password validators."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="What is this token for?", help_text="For example: my MTurk bridge.")
