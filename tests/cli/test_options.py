"""One meaning per option name across commands."""

from __future__ import annotations

from collections import defaultdict

import click

from dpo_frames.cli import cli


def _visible_options() -> dict[str, list[tuple[str, click.Option]]]:
    found: dict[str, list[tuple[str, click.Option]]] = defaultdict(list)
    for name, command in cli.commands.items():
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                for opt in param.opts:
                    found[opt].append((name, param))
    return found


def test_an_option_shared_by_commands_means_the_same_in_each() -> None:
    for opt, uses in _visible_options().items():
        helps = {p.help for _, p in uses}
        if opt in ("--out", "-o", "--overwrite", "--json", "--host", "--timeout", "--poll-interval", "--wait"):
            continue  # the same idea, said of each command's own output or platform call
        if opt == "--run-id":
            continue  # the run's id: the one `pairs` gives the data, the one `submit` trains (its record's)
        assert len(helps) == 1, f"{opt} means different things in {[c for c, _ in uses]}: {helps}"


def test_the_two_seeds_have_two_names() -> None:
    options = _visible_options()
    assert "--seed" not in options
    assert {c for c, _ in options["--strategy-seed"]} == {"pairs", "build"}
    assert {c for c, _ in options["--sample-seed"]} == {"dataset", "build"}


def test_the_old_seed_still_works_with_a_warning(invoke, tmp_path, steps_jsonl) -> None:
    run = tmp_path / "r"
    result = invoke("pairs", steps_jsonl, "--out", run, "--strategy", "best_vs_random", "--seed", "4")
    assert result.exit_code == 0 and "--seed is now --strategy-seed" in result.stderr
    result = invoke("dataset", run, "--seed", "3")
    assert result.exit_code == 0 and "--seed is now --sample-seed" in result.stderr
