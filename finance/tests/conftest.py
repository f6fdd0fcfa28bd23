from applications.tests.conftest import other_partner, other_partner_client, partner, partner_client  # noqa: F401  (partner API clients, shared fixtures)
