"""Reading /metrics in tests: parsed with prometheus_client's own parser."""

from __future__ import annotations

from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from registration import metrics

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape; the parser refuses text that is not the exposition format."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; a KeyError names a missing series."""
    return samples[(name, frozenset(labels.items()))]


def scrape(client: FlaskClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return parse(response.get_data(as_text=True))


def local_value(name: str, **labels: str) -> float:
    """A counter of this process as it stands, without a request (and its own counts)."""
    registry = CollectorRegistry()
    for collector in metrics.process_collectors():
        registry.register(collector)
    return registry.get_sample_value(name, labels) or 0.0
