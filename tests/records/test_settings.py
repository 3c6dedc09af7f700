"""reconciler.yaml: defaults, strictness, and environments merged over the built-in ones."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.errors import SettingsError
from reconciler.records.settings import load_settings
from reconciler.redox.api import (
    DEVELOPMENT_ORGANIZATION_DESTINATION,
    GATEWAY_OID,
    PRODUCTION_ORGANIZATION_DESTINATION,
    SELF_RESPONDING_GATEWAY_OID,
)


def test_every_key_has_a_default(repo: Any) -> None:
    settings = load_settings(repo().root)
    file = settings.file
    assert file.directory == "Carequality"
    assert file.gateway_oid == GATEWAY_OID == "2.16.840.1.113883.3.6147.458.2"
    assert file.external_parents == []
    assert file.missing == "error"
    assert (file.safety.max_deactivate_fraction, file.safety.min_records_for_fraction) == (0.3, 10)
    assert file.api.base_url == "https://api.redoxengine.com"
    assert (file.api.rate_limit, file.api.concurrency, file.api.timeout) == (25, 8, 60)
    assert file.managing_org is None
    assert (file.verify.enabled, file.verify.timeout) == (True, 120)
    assert sorted(settings.environments) == ["development", "production", "sandbox"]


def test_managing_org_and_verify_are_read(repo: Any) -> None:
    made = repo(settings="managing_org: Acme Health IT\nverify:\n  enabled: false\n  timeout: 5\n")
    file = load_settings(made.root).file
    assert file.managing_org == "Acme Health IT"
    assert (file.verify.enabled, file.verify.timeout) == (False, 5)


def test_an_empty_file_means_the_defaults(repo: Any) -> None:
    made = repo(settings="# nothing set\n")
    assert load_settings(made.root) == load_settings(repo().root)


def test_built_in_environments(repo: Any) -> None:
    settings = load_settings(repo().root)
    development = settings.environment("development")
    assert development.destination("organization") == DEVELOPMENT_ORGANIZATION_DESTINATION
    assert development.destination("organization") == "a07afe3b-d247-4415-827f-6837707e1b8b"
    assert (development.ledger, development.protected) == ("ledger/development.json", False)
    production = settings.environment("production")
    assert production.destination("organization") == PRODUCTION_ORGANIZATION_DESTINATION
    assert production.destination("organization") == "5d0fd248-6c52-4ad9-b907-ae10bf2dcc39"
    assert (production.ledger, production.protected) == ("ledger/production.json", True)
    sandbox = settings.environment("sandbox")
    assert sandbox.ledger == ".reconciler/sandbox/ledger.json"
    assert sandbox.in_process
    assert not sandbox.protected


def test_an_entry_merges_over_the_built_in_key_by_key(repo: Any) -> None:
    made = repo(settings={"environments": {"production": {"ledger": "state/prod.json"}}})
    production = load_settings(made.root).environment("production")
    assert production.ledger == "state/prod.json"
    assert production.destination("organization") == PRODUCTION_ORGANIZATION_DESTINATION
    assert production.protected is True


def test_an_entry_can_override_the_destination_only(repo: Any) -> None:
    made = repo(settings={"environments": {"development": {"organization_destination": "d-2"}}})
    development = load_settings(made.root).environment("development")
    assert development.destination("organization") == "d-2"
    assert development.ledger == "ledger/development.json"


def test_a_custom_environment(repo: Any) -> None:
    made = repo(
        settings={
            "environments": {"staging": {"organization_destination": "s-1", "protected": True}}
        }
    )
    settings = load_settings(made.root)
    staging = settings.environment("staging")
    assert (staging.destination("organization"), staging.ledger, staging.protected) == (
        "s-1",
        "ledger/staging.json",
        True,
    )
    assert staging.destination("provider") is None
    assert sorted(settings.environments) == ["development", "production", "sandbox", "staging"]
    assert settings.environment("staging").destination("organization") == "s-1"


def test_an_unknown_environment_lists_the_known_ones(repo: Any) -> None:
    made = repo(settings={"environments": {"staging": {}}})
    with pytest.raises(SettingsError) as caught:
        load_settings(made.root).environment("prod")
    assert str(caught.value) == (
        "unknown environment 'prod': use one of development, production, sandbox, staging, "
        "or add it under environments: in reconciler.yaml"
    )


def test_target_carries_both_gateways_and_the_external_parents(repo: Any) -> None:
    made = repo(settings={"external_parents": ["1.2.3"], "directory": "Other"})
    target = load_settings(made.root).environment("production")
    assert target.gateway_oids == {GATEWAY_OID, SELF_RESPONDING_GATEWAY_OID}
    assert target.external_parents == {"1.2.3"}
    assert target.directory == "Other"
    assert target.name == "production"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("directory: Carequality\ncolour: blue\n", "reconciler.yaml, line 2: unknown key 'colour'"),
        (
            "safety:\n  max_deactivate: 0.5\n",
            "reconciler.yaml, line 2: unknown key 'max_deactivate'",
        ),
        ("mising: deactivate\n", "line 1: unknown key 'mising': did you mean 'missing'?"),
        (
            "environments:\n  staging:\n    ledgr: x.json\n",
            "line 3: unknown key 'ledgr': did you mean 'ledger'? (in environments.staging)",
        ),
        (
            "missing: delete\n",
            "line 1: missing: 'delete' is not allowed: write 'error' or 'deactivate'",
        ),
        ("safety:\n  max_deactivate_fraction: 2\n", "line 2: safety.max_deactivate_fraction"),
        ("api:\n  concurrency: 0\n", "line 2: api.concurrency"),
        ("gateway_oid: 2.16.0840\n", "line 1: gateway_oid: '2.16.0840' is not an OID"),
        ("gateway_oid: 2.16\n", "line 1: gateway_oid: expected text, got a number 2.16: put it"),
        ("external_parents: ['1.40']\n", "line 1: external_parents[0]: '1.40' is not an OID"),
        ("environments: [dev]\n", "line 1: environments: expected a mapping of keys"),
        ("verify:\n  timeout: 0\n", "line 2: verify.timeout"),
        ("verify:\n  enabled: yes\n", "line 2: verify.enabled"),
        ("verify:\n  timout: 5\n", "unknown key 'timout': did you mean 'timeout'?"),
        ('managing_org: ""\n', "line 1: managing_org"),
    ],
)
def test_invalid_settings_are_reported_with_their_line(repo: Any, text: str, expected: str) -> None:
    made = repo(settings=text)
    with pytest.raises(SettingsError) as caught:
        load_settings(made.root)
    assert str(caught.value).startswith("reconciler.yaml is invalid:\n  - ")
    assert expected in str(caught.value)


def test_every_settings_problem_is_listed_in_line_order(repo: Any) -> None:
    made = repo(settings="safety:\n  max_deactivate_fraction: 2\nbogus: 1\nmissing: x\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(made.root)
    listed = str(caught.value).splitlines()[1:]
    assert [line.split(":")[0] for line in listed] == [
        "  - reconciler.yaml, line 2",
        "  - reconciler.yaml, line 3",
        "  - reconciler.yaml, line 4",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n", "reconciler.yaml, line 1: the file must hold a mapping of settings"),
        ("directory: [x\n", "reconciler.yaml, line 2: the file is not valid YAML"),
        ("a: 1\na: 2\n", "reconciler.yaml, line 2: the file has the key 'a' twice"),
    ],
)
def test_a_broken_settings_file(repo: Any, text: str, expected: str) -> None:
    made = repo(settings=text)
    with pytest.raises(SettingsError, match="^" + expected.replace("(", r"\(")):
        load_settings(made.root)


def test_unknown_environment_through_the_cli(repo: Any, run_cli: Any) -> None:
    result = run_cli("plan", "--env", "prod", repo=repo())
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: unknown environment 'prod': use one of development, production, sandbox, or "
        "add it under environments: in reconciler.yaml\n"
    )
