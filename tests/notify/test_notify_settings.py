"""`notify` in reconciler.yaml: strict like every setting (unknown keys, events and
environments are errors at their line), and a URL written where a variable's name belongs is
refused without being printed back."""

from __future__ import annotations

from pathlib import Path

from factories import example_repository
from sandbox_local import run

from reconciler.records.settings import load_settings

SETTINGS = """\
notify:
  - url_env: HOOK
    events: [apply.applied, apply.aplied]
    colour: red
  - url_env: https://hooks.slack.com/services/T000/B000/Wr1tten1nGit
    events: [drift.found]
  - url_env: HOOK2
    events: []
"""


def test_every_mistake_is_reported_at_its_line_without_the_url(tmp_path: Path) -> None:
    repo = example_repository(tmp_path / "repo")
    (repo / "reconciler.yaml").write_text(SETTINGS, encoding="utf-8")
    result = run(repo, "validate")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "reconciler.yaml, line 3: notify[0].events[1]: 'apply.aplied' is not allowed" in (
        result.output
    )
    assert any(
        line.startswith("  - reconciler.yaml, line 4: unknown key 'colour'") for line in lines
    )
    assert "reconciler.yaml, line 5: notify[1].url_env: must name an environment variable" in (
        result.output
    )
    assert "reconciler.yaml, line 8: notify[2].events" in result.output
    assert "Wr1tten1nGit" not in result.output
    assert "hooks.slack.com" not in result.output


def test_an_unknown_environment_is_an_error_and_the_default_skips_the_sandbox(
    tmp_path: Path,
) -> None:
    repo = example_repository(tmp_path / "repo")
    settings = repo / "reconciler.yaml"
    base = settings.read_text(encoding="utf-8")
    settings.write_text(
        base + "notify:\n  - url_env: HOOK\n    events: [drift.found]\n"
        "    environments: [production, prod]\n",
        encoding="utf-8",
    )
    result = run(repo, "validate")
    assert result.exit_code == 1
    assert "notify[0].environments[1]: unknown environment 'prod': use one of" in result.output

    settings.write_text(
        base + "notify:\n  - url_env: HOOK\n    events: [drift.found]\n", encoding="utf-8"
    )
    [entry] = load_settings(repo).file.notify
    assert entry.environments is None
    assert entry.wants("drift.found", "production")
    assert not entry.wants("drift.found", "sandbox")
    assert run(repo, "validate").exit_code == 0
