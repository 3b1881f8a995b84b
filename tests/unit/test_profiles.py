"""Threshold profiles: the shipped file, a user's config, flag overrides, and clear errors."""

from pathlib import Path

import pytest

from loadgen.core.errors import UsageError
from loadgen.core.verdict import Thresholds
from loadgen.data.profiles import load_profiles, parse_profiles, select_profile


def test_shipped_default_is_the_users_half_second_slo_and_equals_the_built_in_defaults():
    profiles = load_profiles()
    assert profiles["default"].thresholds == Thresholds()
    assert profiles["default"].thresholds.slo_p95_lag_s == 0.5


def test_the_cpu_profile_is_looser_and_says_why():
    cpu = load_profiles()["cpu"]
    assert cpu.thresholds.slo_p95_lag_s > 0.7  # one tiny.en stream on these cores already sits near 0.7 s
    assert "0.7" in cpu.description
    # keys it leaves out come from the default profile
    assert cpu.thresholds.min_connection_success == Thresholds().min_connection_success


def test_a_config_file_adds_profiles_and_inherits_from_default(tmp_path: Path):
    config = tmp_path / "thresholds.toml"
    config.write_text("[profiles.strict]\nslo_p95_lag_s = 0.25\nmax_refusals = 2\n", encoding="utf-8")
    profiles = load_profiles(config)
    assert {"default", "cpu", "strict"} <= set(profiles)
    strict = profiles["strict"].thresholds
    assert strict.slo_p95_lag_s == 0.25 and strict.max_refusals == 2 and isinstance(strict.max_refusals, int)
    assert strict.max_error_ratio == Thresholds().max_error_ratio


def test_flags_override_single_thresholds():
    profile = select_profile(load_profiles(), "cpu", {"slo_p95_lag_s": 2.0, "max_error_ratio": None})
    assert profile.thresholds.slo_p95_lag_s == 2.0
    assert profile.thresholds.wer_tolerance == load_profiles()["cpu"].thresholds.wer_tolerance


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[profiles.x]\nslo = 1\n", "unknown key 'slo'"),
        ("[profiles.x]\nmin_connection_success = 1.5\n", "between 0 and 1"),
        ('[profiles.x]\nslo_p95_lag_s = "fast"\n', "must be a number"),
        ("[other]\na = 1\n", "no [profiles.NAME] table"),
        ("[profiles.x\n", "not valid TOML"),
    ],
)
def test_bad_config_files_name_the_file_and_the_problem(tmp_path: Path, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=r"bad\.toml") as err:
        load_profiles(config)
    assert message in str(err.value)


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(UsageError, match="known: cpu, default"):
        select_profile(load_profiles(), "gpu", {})


def test_parse_profiles_is_pure():
    profiles = parse_profiles({"profiles": {"a": {"wer_tolerance": 0.1}}}, "inline")
    assert profiles["a"].thresholds.wer_tolerance == 0.1
