"""Shared fixtures: one verification of the whole registry per test session."""

from __future__ import annotations

import pytest

from advproof import ledger
from advproof.claims import Registry, load_registry


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The book's registry (fresh, not the notebooks' cached one)."""
    return load_registry()


@pytest.fixture(scope="session")
def book_report(registry: Registry) -> ledger.Report:
    """Every check of every claim, all kinds, run once and shared by the tests that read it."""
    return ledger.verify(registry, kinds=None)
