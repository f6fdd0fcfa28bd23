from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from applications import services
from applications.lifecycle import ApplicationStatus
from applications.models import Customer, LoanApplication, Partner
from loanproject.core import topics
from loanproject.core.errors import Conflict, DomainError, IllegalTransition, NotFound
from loanproject.core.models import OutboxEvent

from .factories import CustomerFactory, LoanApplicationFactory, ManagerFactory, PartnerFactory

pytestmark = pytest.mark.django_db


def customer_data(**overrides) -> services.CustomerData:
    values = {
        "full_name": "Asha Patel",
        "email": "asha@example.com",
        "pan": "abcde1234f",
        "phone": "+1 212 555 0101",
        "external_ref": "CUST-1",
    }
    values.update(overrides)
    return services.CustomerData(**values)


def application_data(**overrides) -> services.ApplicationData:
    values = {
        "requested_amount": Decimal("25000.00"),
        "purpose": "vehicle",
        "annual_income": Decimal("85000.00"),
        "employment_status": "employed",
        "external_ref": "APP-1",
        "total_payments": 10,
        "late_payments": 1,
        "credit_mix": ["credit_card"],
        "repayment_history": [{"month": "2026-01", "status": "on_time"}],
    }
    values.update(overrides)
    return services.ApplicationData(**values)


class TestSubmitApplication:
    def test_stores_customer_application_and_submitted_event_together(self):
        partner = PartnerFactory()

        application = services.submit_application(
            partner=partner, customer=customer_data(), application=application_data()
        )

        application.refresh_from_db()
        customer = application.customer
        assert application.status == ApplicationStatus.SUBMITTED
        assert application.version == 1
        assert application.partner == partner
        assert application.requested_amount == Decimal("25000.00")
        assert customer.pan.reveal() == "ABCDE1234F"
        assert customer.pan_hash == services.pan_blind_index("ABCDE1234F")
        event = OutboxEvent.objects.get()
        assert event.topic == topics.APPLICATION_SUBMITTED
        assert event.aggregate_id == str(application.pk)
        assert event.payload == {"application_id": str(application.pk), "partner_id": partner.pk}

    def test_invalid_application_leaves_no_customer_application_or_event(self):
        partner = PartnerFactory()

        with pytest.raises(ValidationError) as error:
            services.submit_application(
                partner=partner, customer=customer_data(), application=application_data(credit_mix=["lottery"])
            )

        assert "credit_mix" in error.value.message_dict
        assert Customer.objects.count() == 0
        assert LoanApplication.objects.count() == 0
        assert OutboxEvent.objects.count() == 0

    def test_invalid_pan_is_a_field_error(self):
        with pytest.raises(ValidationError) as error:
            services.submit_application(
                partner=PartnerFactory(), customer=customer_data(pan="1234"), application=application_data()
            )

        assert list(error.value.message_dict) == ["pan"]
        assert Customer.objects.count() == 0

    def test_same_customer_ref_reuses_the_customer_and_updates_contact_details(self):
        partner = PartnerFactory()
        first = services.submit_application(partner=partner, customer=customer_data(), application=application_data())

        second = services.submit_application(
            partner=partner,
            customer=customer_data(email="new@example.com"),
            application=application_data(external_ref="APP-2"),
        )

        assert second.customer_id == first.customer_id
        assert Customer.objects.get().email == "new@example.com"

    def test_same_customer_ref_with_another_pan_is_refused(self):
        partner = PartnerFactory()
        services.submit_application(partner=partner, customer=customer_data(), application=application_data())

        with pytest.raises(Conflict) as error:
            services.submit_application(
                partner=partner,
                customer=customer_data(pan="ZZZZZ9999Z"),
                application=application_data(external_ref="APP-2"),
            )

        assert error.value.code == "customer_pan_mismatch"
        assert LoanApplication.objects.count() == 1
        assert Customer.objects.get().pan.reveal() == "ABCDE1234F"

    def test_same_application_ref_twice_is_a_conflict(self):
        partner = PartnerFactory()
        services.submit_application(partner=partner, customer=customer_data(), application=application_data())

        with pytest.raises(Conflict) as error:
            services.submit_application(partner=partner, customer=customer_data(), application=application_data())

        assert error.value.code == "application_exists"
        assert LoanApplication.objects.count() == 1
        assert OutboxEvent.objects.count() == 1

    def test_the_same_refs_are_independent_between_partners(self):
        first = services.submit_application(
            partner=PartnerFactory(), customer=customer_data(), application=application_data()
        )
        second = services.submit_application(
            partner=PartnerFactory(), customer=customer_data(), application=application_data()
        )

        assert first.customer_id != second.customer_id
        assert first.customer.pan_hash == second.customer.pan_hash

    def test_an_existing_customer_of_another_partner_is_refused(self):
        customer = CustomerFactory()

        with pytest.raises(Conflict):
            services.submit_application(partner=PartnerFactory(), customer=customer, application=application_data())

        assert LoanApplication.objects.count() == 0


class TestDecisions:
    def test_withdraw_with_the_current_version_moves_and_bumps_the_version(self):
        application = LoanApplicationFactory(status=ApplicationStatus.SUBMITTED, version=1)

        withdrawn = services.withdraw_application(
            application_id=application.pk, expected_version=1, reason="moved away"
        )

        assert withdrawn.status == ApplicationStatus.WITHDRAWN
        assert withdrawn.version == 2
        assert withdrawn.decision_note == "moved away"
        assert OutboxEvent.objects.filter(topic=topics.APPLICATION_WITHDRAWN).count() == 1

    def test_another_partners_application_is_not_found(self):
        application = LoanApplicationFactory()

        with pytest.raises(NotFound):
            services.withdraw_application(application_id=application.pk, expected_version=1, partner=PartnerFactory())

        application.refresh_from_db()
        assert application.status == ApplicationStatus.SUBMITTED

    def test_an_illegal_transition_changes_nothing(self):
        application = LoanApplicationFactory(status=ApplicationStatus.REJECTED, version=4)

        with pytest.raises(IllegalTransition):
            services.withdraw_application(application_id=application.pk, expected_version=4)

        application.refresh_from_db()
        assert (application.status, application.version) == (ApplicationStatus.REJECTED, 4)

    def test_re_scoring_is_refused_while_a_proposal_awaits_confirmation(self):
        manager = ManagerFactory()
        proposed = LoanApplicationFactory(
            status=ApplicationStatus.MANUAL_REVIEW,
            proposed_amount=Decimal("9000.00"),
            assigned_to=manager.user,
            version=3,
        )
        other = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW)

        with pytest.raises(Conflict) as error:
            services.request_rescoring(application_ids=[proposed.pk, other.pk])

        assert error.value.code == "proposal_pending"
        assert str(proposed.pk) in error.value.message
        proposed.refresh_from_db()
        other.refresh_from_db()
        assert (proposed.status, proposed.proposed_amount, proposed.assigned_to, proposed.version) == (
            ApplicationStatus.MANUAL_REVIEW,
            Decimal("9000.00"),
            manager.user,
            3,
        )
        assert (other.status, other.version) == (ApplicationStatus.MANUAL_REVIEW, 1)

    def test_re_scoring_sends_an_application_back_and_clears_its_assignment(self):
        manager = ManagerFactory()
        application = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, assigned_to=manager.user)

        moved = services.request_rescoring(application_ids=[application.pk])

        assert [(a.pk, a.status, a.assigned_to_id, a.assigned_at, a.version) for a in moved] == [
            (application.pk, ApplicationStatus.SCORING, None, None, 2)
        ]

    def test_booking_needs_an_approved_application(self):
        application = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW)

        with pytest.raises(IllegalTransition):
            services.mark_application_booked(application_id=application.pk)


class TestCustomers:
    def test_changing_the_pan_re_encrypts_and_re_indexes(self):
        customer = CustomerFactory(clear_pan="AAAAA1111A")

        services.update_customer(customer_id=customer.pk, pan="bbbbb2222b")

        customer.refresh_from_db()
        assert customer.pan.reveal() == "BBBBB2222B"
        assert customer.pan_hash == services.pan_blind_index("BBBBB2222B")

    def test_another_partners_customer_cannot_be_changed(self):
        customer = CustomerFactory(full_name="Original")

        with pytest.raises(NotFound):
            services.update_customer(customer_id=customer.pk, partner=PartnerFactory(), full_name="Hijacked")

        customer.refresh_from_db()
        assert customer.full_name == "Original"


class TestContactDetails:
    """E-mail and phone are stored canonical, so the fraud checks compare like with like."""

    def test_registration_stores_normalised_email_and_phone(self):
        customer = services.register_customer(
            partner=PartnerFactory(),
            data=customer_data(email="  Asha.Patel@Example.COM ", phone="+1 (212) 555-0101", push_token="device-1"),
        )

        customer.refresh_from_db()
        assert (customer.email, customer.phone, customer.push_token) == (
            "asha.patel@example.com",
            "+12125550101",
            "device-1",
        )

    def test_the_same_details_written_differently_change_nothing(self):
        partner = PartnerFactory()
        first = services.register_customer(
            partner=partner, data=customer_data(phone="+1 212 555 0101", push_token="device-1")
        )
        written = Customer.objects.get(pk=first.pk).updated_at

        again = services.register_customer(
            partner=partner, data=customer_data(email="ASHA@example.com", phone="+1-212-555-0101")
        )

        stored = Customer.objects.get(pk=first.pk)
        assert again.pk == first.pk
        assert (stored.email, stored.phone, stored.push_token, stored.updated_at) == (
            "asha@example.com",
            "+12125550101",
            "device-1",
            written,
        )

    def test_an_update_normalises_too(self):
        customer = CustomerFactory()

        services.update_customer(customer_id=customer.pk, email="New@Example.com ", phone="212.555.0199", push_token="")

        customer.refresh_from_db()
        assert (customer.email, customer.phone, customer.push_token) == ("new@example.com", "2125550199", "")

    def test_a_phone_with_letters_is_a_field_error_and_changes_nothing(self):
        customer = CustomerFactory(full_name="Asha Patel", phone="+12125550101")

        with pytest.raises(ValidationError) as error:
            services.update_customer(customer_id=customer.pk, full_name="Renamed", phone="call me maybe")

        assert list(error.value.message_dict) == ["phone"]
        customer.refresh_from_db()
        assert (customer.full_name, customer.phone) == ("Asha Patel", "+12125550101")


class TestPartners:
    def test_register_partner_creates_its_audit_service_user(self):
        partner = services.register_partner(name="Acme", code="acme", contact_email="api@acme.example")

        assert partner.service_user.username == "partner-acme"
        assert not partner.service_user.has_usable_password()
        assert not partner.service_user.is_staff

    def test_inactive_partner_gets_no_key(self):
        partner = PartnerFactory(is_active=False)

        with pytest.raises(Conflict):
            services.issue_partner_api_key(partner=partner, name="k")

        assert partner.api_keys.count() == 0

    def test_a_taken_name_is_a_domain_error_and_creates_nothing(self):
        PartnerFactory(name="Acme")
        users = get_user_model().objects.count()

        with pytest.raises(DomainError) as error:
            services.register_partner(name="Acme", code="acme-2")

        assert error.value.fields == {"name": ["Partner with this Name already exists."]}
        assert error.value.message == "name: Partner with this Name already exists."
        assert (Partner.objects.count(), get_user_model().objects.count()) == (1, users)

    def test_a_code_that_is_not_a_slug_is_a_domain_error_and_creates_nothing(self):
        with pytest.raises(DomainError) as error:
            services.register_partner(name="Bad", code="bad code!")

        assert list(error.value.fields) == ["code"]
        assert error.value.message.startswith("code: Enter a valid")
        assert (Partner.objects.count(), get_user_model().objects.filter(username__startswith="partner-").count()) == (
            0,
            0,
        )
