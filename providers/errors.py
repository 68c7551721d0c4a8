"""The providers package's errors: an invalid contracts file, and refused requests."""

from __future__ import annotations

from config.files import ConfigFileError


class ProvidersError(ConfigFileError):
    """The providers file is invalid; the message names the entry and field."""


class ProviderError(ValueError):
    """Something asked of a provider cannot be done; the message says what and why."""


class ProviderNotFound(ProviderError):
    """No provider (or job) has this code (or id)."""


class ProviderUnavailable(ProviderError):
    """The provider is suspended, its contract has ended, or not begun."""


class UnknownService(ProviderError):
    """The service is not in the provider's agreed price list."""


class PriceRefused(ProviderError):
    """The price is above 85% of the market reference (or not a price at all)."""
