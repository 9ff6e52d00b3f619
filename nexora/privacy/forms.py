"""Forms of the privacy pages: the client's profile and the staff's answer to an erasure request."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class ProfileForm(forms.Form):
    email = forms.EmailField(label=_("E-mail"), required=False, max_length=254)
    first_name = forms.CharField(label=_("First name"), required=False, max_length=150)
    last_name = forms.CharField(label=_("Last name"), required=False, max_length=150)
    language = forms.ChoiceField(label=_("Language of messages"), choices=settings.LANGUAGES)


class ErasureAnswerForm(forms.Form):
    comment = forms.CharField(
        label=_("Comment"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
