"""The ids of a tenant's one-of-a-kind aggregates (its configuration, rules, policies, counters):
derived from the tenant's name, so any process finds them without asking the store.

Each is computed once per process and kind: uuid5 hashes with SHA-1, and every command reads a few
of them (an opening: the configuration, the SLA policies, the routing rules)."""

from __future__ import annotations

from functools import lru_cache
from uuid import NAMESPACE_URL, UUID, uuid5

TENANTS_KEPT = 4096  # per kind


@lru_cache(maxsize=TENANTS_KEPT)
def tenant_aggregate_id(kind: str, tenant: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"docket:{kind}:{tenant}")
