"""The factories build one record one way: the text organization_text() writes is the mapping
organization() gives, whatever the OID, name, parent, city and active flag."""

from __future__ import annotations

import pytest
import yaml
from factories import GATEWAY, PARENT, organization, organization_text


@pytest.mark.parametrize(
    ("part_of", "city", "active"), [(GATEWAY, "Madison", True), (PARENT, "Verona", False)]
)
def test_the_text_of_an_organization_is_its_mapping(part_of: str, city: str, active: bool) -> None:
    oid, name = f"{PARENT}.9", "Northwind Verona Clinic"
    mapping = organization(oid=oid, name=name, part_of=part_of, active=active)
    mapping["address"]["city"] = city

    text = organization_text(oid, name, part_of=part_of, city=city, active=active)

    assert yaml.safe_load(text) == mapping
    assert list(yaml.safe_load(text)) == list(mapping)  # the same keys, in the same order
