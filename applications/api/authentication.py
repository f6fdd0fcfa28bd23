"""Partner authentication: `Authorization: Api-Key <prefix>.<secret>`, one key per integration."""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, cast

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle

from loanproject.core.audit import attribute_request_changes_to

from ..models import Partner, PartnerAPIKey

KEYWORD = "Api-Key"


class KnownKeys:
    """The keys this process has verified lately, with their partner and its service user.

    Looking a key up is a query per request; a key is kept PARTNER_API_KEY_CACHE_SECONDS (5 by
    default) after it was read, then read again. So a revoked key, or the keys of a partner made
    inactive, stop working within that time in every process (the revoking process has no way to
    reach the others' memory); expiry dates are checked on each request. Only keys that verified
    are kept (under a digest, not in clear), so wrong keys are never cached and the size is the
    number of live keys.
    """

    def __init__(self) -> None:
        self._keys: dict[bytes, tuple[float, PartnerAPIKey]] = {}

    def get(self, key: str) -> PartnerAPIKey:
        digest = hashlib.sha256(key.encode()).digest()
        now = time.monotonic()
        known = self._keys.get(digest)
        if known is not None and known[0] > now:
            return known[1]
        api_key = cast(PartnerAPIKey, PartnerAPIKey.objects.get_from_key(key))  # DoesNotExist: revoked or wrong
        self._keys[digest] = (now + settings.PARTNER_API_KEY_CACHE_SECONDS, api_key)
        return api_key

    def clear(self) -> None:
        self._keys.clear()


known_keys = KnownKeys()


class PartnerAPIKeyAuthentication(BaseAuthentication):
    """Authenticates as the partner's service user; `request.auth` is the API key."""

    def authenticate(self, request):
        header = get_authorization_header(request).decode("latin-1")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != KEYWORD.lower():
            return None
        key = key.strip()
        if not key:
            raise exceptions.AuthenticationFailed("The Api-Key header has no key.")
        try:
            api_key = known_keys.get(key)
        except PartnerAPIKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("This API key has expired.")
        if not api_key.partner.is_active:
            raise exceptions.AuthenticationFailed("This partner is not active.")
        user = api_key.partner.service_user
        attribute_request_changes_to(user)
        return user, api_key

    def authenticate_header(self, request) -> str:
        return KEYWORD


def partner_of(request) -> Partner | None:
    return request.auth.partner if isinstance(request.auth, PartnerAPIKey) else None


class IsPartner(BasePermission):
    message = "A partner API key is required."
    # Every caller the partner authentication lets in passes: a partner is never refused with a
    # 403 (the schema documents none), only unauthenticated (401).
    only_requires_authentication = True

    def has_permission(self, request, view) -> bool:
        return partner_of(request) is not None


class PartnerRateThrottle(SimpleRateThrottle):
    """One request budget per partner, whatever key or address it calls from.

    Counted in fixed windows of the rate's period (a minute for "600/min"), one counter per
    partner and window, incremented in the cache. DRF's own throttle keeps the time of every
    request of the period in one cache value that each request reads, unpickles, pickles and
    writes back: its cost grows with the rate (18,000 times at 300 a second). A fixed window lets
    a partner send up to twice its rate across a window's end; the rate is a guard, not a quota.
    """

    scope = "partner"
    num_requests: int  # from the rate, set by SimpleRateThrottle.__init__
    duration: int

    def get_rate(self) -> str:
        return settings.PARTNER_THROTTLE_RATE

    def allow_request(self, request, view) -> bool:
        self.key = self.get_cache_key(request, view)
        if self.rate is None or self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends = (window + 1) * self.duration
        counter = f"{self.key}:{window}"
        try:
            count = self.cache.incr(counter)
        except ValueError:  # the window's first request (or its counter expired just now)
            count = 1 if self.cache.add(counter, 1, self.duration + 1) else self.cache.incr(counter)
        return count <= self.num_requests

    def wait(self) -> float:
        return max(self.window_ends - self.now, 0)

    def get_cache_key(self, request, view):
        partner = partner_of(request)
        if partner is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": partner.pk}


class PartnerAPIKeyScheme(OpenApiAuthenticationExtension):
    target_class = PartnerAPIKeyAuthentication
    name = "PartnerApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`; `manage.py create_partner` prints a key once.",
        }


# Type checkers see the mixin as the view it is mixed into.
if TYPE_CHECKING:
    from rest_framework.views import APIView

    _View = APIView
else:
    _View = object


class PartnerAPIMixin(_View):
    """Authentication, permission and throttling of every partner endpoint."""

    authentication_classes = [PartnerAPIKeyAuthentication]
    permission_classes = [IsPartner]
    throttle_classes = [PartnerRateThrottle]

    @property
    def partner(self) -> Partner | None:
        # None only outside a real request: IsPartner lets none without a partner in (the schema
        # generator builds querysets with an anonymous one).
        return partner_of(self.request)
