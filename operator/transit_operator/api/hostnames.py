"""Confluent Cloud host names on Azure Private Link, in both shapes Confluent serves.

A network's DNS domain is `<net>.<region>.azure.confluent.cloud` (`dnsDomain`); its brokers are
`e-NNNN.azN.<dnsDomain>` and a cluster's bootstrap `lkc-xxxxx.<dnsDomain>`. Networks with CHASED_PRIVATE
DNS resolution (the default) hand clients *glb* names instead, flat under `<region>.azure.glb.confluent.
cloud`: bootstrap `lkc-xxxxx-<net>.<region>.azure.glb.confluent.cloud`, brokers `e-NNNN-azN-<net>.<region>
.azure.glb.confluent.cloud` (the zone is the `-azN-` label). Public DNS CNAMEs a glb name to its private
name (the dots of `e-NNNN.azN.<net>` turned into dashes, `glb.` dropped), which the private DNS zone of
`dnsDomain` answers. Source: confluentinc/ccloud-connectivity `privatelink/azure/debug-connectivity.sh`
and `terraform/privatelink.tf` (`hosted_zone` = the bootstrap with `glb.` removed). Pure functions.
"""

from __future__ import annotations

import re

__all__ = ["glb_domain", "glb_suffix", "is_glb_of", "private_name", "zone_of"]

_ZONE_LABEL = re.compile(r"^az[1-9][0-9]?$")
_GLB_ZONE = re.compile(r"^(?P<head>.+)-(?P<zone>az[1-9][0-9]?)$")


def glb_domain(dns_domain: str) -> str:
    """`<net>.<region>.azure.confluent.cloud` -> `<region>.azure.glb.confluent.cloud` (`glb` goes before the
    last two labels; a domain of three labels or fewer has no glb form and is returned as is)."""
    labels = dns_domain.lower().rstrip(".").split(".")
    rest = labels[1:]
    if len(rest) < 3:
        return ".".join(labels)
    return ".".join([*rest[:-2], "glb", *rest[-2:]])


def glb_suffix(dns_domain: str) -> str:
    """What every glb name of the network ends with: `-<net>.<glb domain>`."""
    return f"-{dns_domain.lower().split('.', 1)[0]}.{glb_domain(dns_domain)}"


def is_glb_of(name: str, dns_domain: str) -> bool:
    """A glb-shaped name of this network: one label ending in `-<net>`, directly under the glb domain."""
    name = name.lower().rstrip(".")
    suffix = glb_suffix(dns_domain)
    return name.endswith(suffix) and "." not in name[: -len(suffix)] and len(name) > len(suffix)


def private_name(name: str, dns_domain: str) -> str:
    """The private name a glb name stands for (`e-0011-az1-<net>.<glb>` -> `e-0011.az1.<dnsDomain>`,
    `lkc-abc12-<net>.<glb>` -> `lkc-abc12.<dnsDomain>`); other names are returned unchanged."""
    if not is_glb_of(name, dns_domain):
        return name.lower().rstrip(".")
    head = name.lower().rstrip(".")[: -len(glb_suffix(dns_domain))]
    m = _GLB_ZONE.match(head)
    domain = dns_domain.lower().rstrip(".")
    return f"{m.group('head')}.{m.group('zone')}.{domain}" if m else f"{head}.{domain}"


def zone_of(name: str, dns_domain: str) -> str | None:
    """The Confluent zone (`az1`...) a broker name of this network lives in, from either shape; None for
    zone-less names (bootstrap) and names outside the network."""
    private = private_name(name, dns_domain)
    domain = dns_domain.lower().rstrip(".")
    if not private.endswith("." + domain):
        return None
    labels = private[: -len(domain) - 1].split(".")
    return labels[-1] if len(labels) >= 2 and _ZONE_LABEL.match(labels[-1]) else None
