"""The loadgen command line: flags parse as documented, bad ones give one line and exit 2."""

import pytest

from loadgen.cli.entry import build_parser, main


def parse(*argv):
    return build_parser().parse_args(["run", "--audio-dir", "x", *argv])


def test_vad_is_on_by_default_and_no_vad_turns_it_off():
    assert parse().use_vad is True
    assert parse("--no-vad").use_vad is False
    assert parse("--use-vad").use_vad is True


@pytest.mark.parametrize(
    "argv",
    [("--num-clients", "0"), ("--duration", "-1"), ("--mode", "burst"), ("--chunk-ms", "abc")],
)
def test_a_bad_flag_is_one_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("loadgen run: ") and "--help" in err[0]


def test_a_bad_url_is_one_line_and_exit_2(capsys, generated_corpus):
    code = main(["run", "--url", "http://x:1", "--audio-dir", str(generated_corpus)])
    assert code == 2
    assert (
        capsys.readouterr().err.strip()
        == "loadgen run: --url 'http://x:1' is not a ws:// or wss:// URL with a host"
    )


def test_an_empty_audio_dir_is_one_line_and_exit_3(capsys, tmp_path):
    code = main(["run", "--port", "1", "--audio-dir", str(tmp_path)])
    assert code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path) in err[0]


def test_resilience_flags_reach_the_session_settings(monkeypatch):
    from loadgen.cli.commands.common import session_settings
    from loadgen.core.protocol import API_KEY_ENV

    settings = session_settings(parse("--reconnect", "--max-reconnects", "3", "--api-key", "k1"), "ws://h:1")
    assert settings.reconnect is not None and settings.reconnect.max_attempts == 3
    assert settings.headers == {"Authorization": "Bearer k1"}
    assert session_settings(parse(), "ws://h:1").reconnect is None
    monkeypatch.setenv(API_KEY_ENV, "from-env")
    assert session_settings(parse(), "ws://h:1").api_key == "from-env"


def test_secrets_never_reach_the_manifest():
    from loadgen.data.manifest import redacted_arguments, redacted_argv

    argv = ["loadgen", "run", "--api-key", "k1", "--api-key=k2", "--url", "ws://h:1"]
    assert redacted_argv(argv) == [
        "loadgen", "run", "--api-key", "<redacted>", "--api-key=<redacted>", "--url", "ws://h:1"
    ]  # fmt: skip
    assert redacted_arguments(parse("--api-key", "k1"))["api_key"] == "<redacted>"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "1,2", "--chaos", "kill-replica@5", "--chaos-step", "2"], "--chaos-step 2"),
        (["--chaos", "explode-replica@5"], "unknown action"),
        (["--shard", "0/3"], "--shard needs explicit --steps"),
        (["--shard", "3/3", "--steps", "3"], "0 <= INDEX < COUNT"),
    ],
)
def test_bad_ramp_chaos_and_shard_flags_are_one_line(argv, message, capsys, tmp_path):
    try:  # argparse exits 2 itself for a bad value; the command returns 2 for a bad combination
        code = main(["ramp", "--port", "1", "--audio-dir", str(tmp_path), "--run-dir", str(tmp_path), *argv])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
