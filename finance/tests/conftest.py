from applications.tests.conftest import (  # noqa: F401  (partner API clients, shared fixtures)
    other_partner,
    other_partner_client,
    partner,
    partner_client,
)
