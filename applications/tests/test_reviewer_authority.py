"""Nobody widens their own authority: approval limits, roles, managers and new reviewers are set
only with `applications.manage_reviewer_authority` (the Credit administrator role, which decides no
application), never on one's own record nor inside one's own reporting line, and every change is
in the audit log with its actor."""

from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.auth.models import Group
from django.urls import reverse

from applications import services
from applications.models import Reviewer
from loanproject.core.errors import PermissionDenied

from .factories import ManagerFactory, ReviewerFactory, StaffUserFactory

pytestmark = pytest.mark.django_db
AUTHORITY = "applications.manage_reviewer_authority"
REVIEW = "applications.review_loanapplication"


def in_group(user, name: str):
    user.groups.add(Group.objects.get(name=name))
    return type(user).objects.get(pk=user.pk)  # a fresh user: permissions are cached per instance


@pytest.fixture
def team():
    """Manny (Loan manager, limit 100,000) over Olivia and Omar (officers, 10,000); Carla is a
    credit administrator and reviews nothing."""
    manager = ManagerFactory(user__username="manny")
    return {
        "manager": manager,
        "manny": in_group(manager.user, "Loan manager"),
        "olivia": ReviewerFactory(user__username="olivia", manager=manager),
        "omar": ReviewerFactory(user__username="omar", manager=manager),
    }


@pytest.fixture
def carla(team):
    team["carla"] = in_group(StaffUserFactory(username="carla"), "Credit administrator")
    return team["carla"]


def change(reviewer: Reviewer, actor, **changes) -> Reviewer:
    values = {
        "role": reviewer.role,
        "approval_limit": reviewer.approval_limit,
        "capacity": reviewer.capacity,
        "manager": reviewer.manager,
        "is_active": reviewer.is_active,
        **changes,
    }
    return services.update_reviewer(actor=actor, reviewer_id=reviewer.pk, **values)


def snapshot() -> list[tuple]:
    return list(
        Reviewer.objects.order_by("pk").values_list("pk", "role", "approval_limit", "capacity", "manager", "is_active")
    )


def audit_entries() -> int:
    return LogEntry.objects.filter(content_type__model="reviewer").count()


class TestService:
    def test_a_manager_cannot_raise_their_own_limit(self, team):
        before, entries = snapshot(), audit_entries()

        with pytest.raises(PermissionDenied, match="own reviewer record"):
            change(team["manager"], team["manny"], approval_limit=Decimal("5000000.00"))

        assert (snapshot(), audit_entries()) == (before, entries)

    @pytest.mark.parametrize(
        "changes", [{"approval_limit": Decimal("90000.00")}, {"role": "manager"}, {"manager": None}]
    )
    def test_a_manager_cannot_change_an_officers_authority(self, team, changes):
        before, entries = snapshot(), audit_entries()

        with pytest.raises(PermissionDenied, match="credit administrator"):
            change(team["olivia"], team["manny"], **changes)

        assert (snapshot(), audit_entries()) == (before, entries)

    def test_a_manager_cannot_bring_back_a_reviewer_someone_switched_off(self, team):
        team["omar"].is_active = False
        team["omar"].save()
        before = snapshot()

        with pytest.raises(PermissionDenied):
            change(team["omar"], team["manny"], is_active=True)

        assert snapshot() == before

    def test_a_manager_still_spreads_the_work_of_their_team(self, team):
        busier = change(team["olivia"], team["manny"], capacity=40)
        away = change(team["omar"], team["manny"], is_active=False)

        assert (busier.capacity, away.is_active) == (40, False)
        entry = LogEntry.objects.get_for_object(team["olivia"]).get(action=LogEntry.Action.UPDATE)
        assert (entry.actor, entry.changes_dict) == (team["manny"], {"capacity": ["10", "40"]})

    def test_the_credit_administrator_raises_an_officers_limit_and_the_audit_names_them(self, team, carla):
        raised = change(team["olivia"], team["carla"], approval_limit=Decimal("20000.00"))

        assert Reviewer.objects.get(pk=raised.pk).approval_limit == Decimal("20000.00")
        entry = LogEntry.objects.get_for_object(team["olivia"]).get(action=LogEntry.Action.UPDATE)
        assert (entry.actor, entry.changes_dict) == (team["carla"], {"approval_limit": ["10000.00", "20000.00"]})

    def test_the_credit_administrator_never_changes_their_own_record(self, team, carla):
        own = ReviewerFactory(user=team["carla"], approval_limit=Decimal("1000.00"))
        before = snapshot()

        with pytest.raises(PermissionDenied, match="own reviewer record"):
            change(own, team["carla"], approval_limit=Decimal("1000000.00"))

        assert snapshot() == before

    def test_not_even_a_superuser_changes_their_own_record(self, team):
        boss = ManagerFactory(user__username="boss", user__is_superuser=True)
        before = snapshot()

        with pytest.raises(PermissionDenied, match="own reviewer record"):
            change(boss, boss.user, approval_limit=Decimal("1000000.00"))

        assert snapshot() == before

    def test_only_the_credit_administrator_registers_reviewers_and_nobody_themself(self, team, carla):
        newcomer = StaffUserFactory(username="nora")
        with pytest.raises(PermissionDenied):
            services.register_reviewer(
                actor=team["manny"],
                user=newcomer,
                role="officer",
                approval_limit=Decimal("5000.00"),
                manager=team["manager"],
            )
        with pytest.raises(PermissionDenied, match="own reviewer record"):
            services.register_reviewer(
                actor=team["carla"], user=team["carla"], role="manager", approval_limit=Decimal("1000000.00")
            )
        assert not Reviewer.objects.filter(user__in=[newcomer, team["carla"]]).exists()

        nora = services.register_reviewer(
            actor=team["carla"],
            user=newcomer,
            role="officer",
            approval_limit=Decimal("5000.00"),
            manager=team["manager"],
        )

        entry = LogEntry.objects.get_for_object(nora).get()
        assert (entry.action, entry.actor) == (LogEntry.Action.CREATE, team["carla"])

    def test_holding_both_permissions_changes_nothing_in_ones_own_line(self, team):
        """A superuser who manages a team holds both permissions: they may not widen anyone above
        or below them, nor take anyone into their line; outside it they may."""
        top = ManagerFactory(user__username="top")
        boss = ManagerFactory(user__username="boss", user__is_superuser=True, manager=top)
        mine = ReviewerFactory(user__username="mine", manager=boss)
        assert boss.user.has_perm(AUTHORITY) and boss.user.has_perm(REVIEW)
        before = snapshot()

        for reviewer, changes in [
            (mine, {"approval_limit": Decimal("1000000.00")}),  # my officer approves alone for me
            (top, {"approval_limit": Decimal("1.00")}),  # my own manager
            (team["olivia"], {"manager": boss}),  # taking someone into my team
            (team["omar"], {"manager": mine}),  # ... under someone of my team
        ]:
            with pytest.raises(PermissionDenied, match="your own reporting line"):
                change(reviewer, boss.user, **changes)
        with pytest.raises(PermissionDenied, match="your own reporting line"):
            services.register_reviewer(
                actor=boss.user,
                user=StaffUserFactory(),
                role="officer",
                approval_limit=Decimal("5000.00"),
                manager=boss,
            )

        assert snapshot() == before
        assert change(team["olivia"], boss.user, approval_limit=Decimal("12000.00")).approval_limit == Decimal(
            "12000.00"
        )


def change_url(reviewer) -> str:
    return reverse("admin:applications_reviewer_change", args=[reviewer.pk])


def form_data(reviewer, **changes) -> dict:
    data = {
        "role": reviewer.role,
        "manager": reviewer.manager_id or "",
        "approval_limit": str(reviewer.approval_limit),
        "capacity": str(reviewer.capacity),
        "is_active": "on" if reviewer.is_active else "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


class TestAdmin:
    def test_a_manager_raising_their_own_limit_in_the_admin_is_refused(self, team, client):
        client.force_login(team["manny"])
        before, entries = snapshot(), audit_entries()

        page = client.get(change_url(team["manager"]))
        posted = client.post(change_url(team["manager"]), form_data(team["manager"], approval_limit="5000000.00"))

        assert Reviewer.objects.get(pk=team["manager"].pk).approval_limit == Decimal("100000.00")
        assert (snapshot(), audit_entries()) == (before, entries)
        assert posted.status_code == 403
        assert page.status_code == 200 and 'name="approval_limit"' not in page.content.decode()

    def test_a_manager_sees_an_officers_limit_but_cannot_raise_it(self, team, client):
        client.force_login(team["manny"])

        page = client.get(change_url(team["olivia"]))
        posted = client.post(
            change_url(team["olivia"]), form_data(team["olivia"], approval_limit="90000.00", capacity="30")
        )

        assert Reviewer.objects.values_list("approval_limit", "capacity").get(pk=team["olivia"].pk) == (
            Decimal("10000.00"),
            30,
        )
        assert posted.status_code == 302
        content = page.content.decode()
        assert (
            'name="approval_limit"' not in content and 'name="manager"' not in content and 'name="role"' not in content
        )
        assert "10,000.00" in content or "10000.00" in content
        assert client.get(reverse("admin:applications_reviewer_add")).status_code == 403

    def test_the_credit_administrator_raises_an_officers_limit_in_the_admin(self, team, carla, client):
        client.force_login(team["carla"])

        posted = client.post(change_url(team["olivia"]), form_data(team["olivia"], approval_limit="20000.00"))

        assert posted.status_code == 302
        assert Reviewer.objects.get(pk=team["olivia"].pk).approval_limit == Decimal("20000.00")
        entry = LogEntry.objects.get_for_object(team["olivia"]).get(action=LogEntry.Action.UPDATE)
        assert (entry.actor, entry.changes_dict) == (team["carla"], {"approval_limit": ["10000.00", "20000.00"]})

    def test_a_superuser_reviewer_cannot_widen_their_line_in_the_admin(self, team, client):
        team["manny"].is_superuser = True
        team["manny"].save()
        client.force_login(team["manny"])
        before = snapshot()

        own = client.post(change_url(team["manager"]), form_data(team["manager"], approval_limit="5000000.00"))
        officer = client.post(change_url(team["olivia"]), form_data(team["olivia"], approval_limit="90000.00"))

        assert own.status_code == 403
        assert officer.status_code == 200 and "your own reporting line" in officer.content.decode()
        assert snapshot() == before


def test_no_role_both_decides_applications_and_sets_authority():
    granted = {
        group.name: {
            f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")
        }
        for group in Group.objects.filter(name__in=settings.STAFF_ROLES)
    }

    assert [role for role, perms in granted.items() if AUTHORITY in perms] == ["Credit administrator"]
    assert [role for role, perms in granted.items() if {AUTHORITY, REVIEW} <= perms] == []
    assert "applications.add_reviewer" not in granted["Loan manager"]
