"""Helpers for admin tests that post forms the way a browser does."""


def inline_post_data(page) -> dict:
    """The inline formsets' fields (management forms, hidden ids) a browser sends with a change form."""
    data = {}
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        for form in [formset.management_form, *formset.forms]:
            for bound in form:
                value = bound.value()
                if value is not None:
                    data[bound.html_name] = value
    return data
