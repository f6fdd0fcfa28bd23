"""Message texts by template and channel (sms, email, push: a title and one short line). Payload
keys are filled with str.format."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


TEMPLATES: dict[str, dict[str, Message]] = {
    "application_pre_approved": {
        "sms": Message("", "Good news {first_name}: your loan application {reference} is pre-approved for {amount}."),
        "email": Message(
            "Your application {reference} is pre-approved",
            "Dear {full_name},\n\nyour loan application {reference} is pre-approved for {amount}.\n"
            "We will contact you about the next steps.",
        ),
        "push": Message("Application pre-approved", "Your loan application {reference} is pre-approved for {amount}."),
    },
    "application_manual_review": {
        "sms": Message("", "Your loan application {reference} is being reviewed by our team."),
        "email": Message(
            "Your application {reference} is in review",
            "Dear {full_name},\n\na loan officer is reviewing your application {reference}.",
        ),
        "push": Message("Application in review", "Our team is reviewing your loan application {reference}."),
    },
    "application_approved": {
        "sms": Message("", "Your loan application {reference} is approved for {amount}."),
        "email": Message(
            "Your application {reference} is approved",
            "Dear {full_name},\n\nyour loan application {reference} is approved for {amount}.",
        ),
        "push": Message("Application approved", "Your loan application {reference} is approved for {amount}."),
    },
    "application_rejected": {
        "sms": Message("", "We could not approve your loan application {reference}. Details follow by e-mail."),
        "email": Message(
            "About your application {reference}",
            "Dear {full_name},\n\nwe could not approve your loan application {reference}.\nReasons: {reasons}.",
        ),
        "push": Message(
            "About your application",
            "We could not approve your loan application {reference}. Details follow by e-mail.",
        ),
    },
    "loan_booked": {
        "sms": Message("", "Your loan {loan_reference} of {amount} is booked. First installment due {first_due}."),
        "email": Message(
            "Your loan {loan_reference} is booked",
            "Dear {full_name},\n\nyour loan {loan_reference} of {amount} is booked.\n"
            "The first installment is due {first_due}.",
        ),
        "push": Message(
            "Loan booked", "Your loan {loan_reference} of {amount} is booked. First installment due {first_due}."
        ),
    },
}


def render(template: str, channel: str, payload: dict) -> Message:
    message = TEMPLATES[template][channel]
    return Message(subject=message.subject.format(**payload), body=message.body.format(**payload))
