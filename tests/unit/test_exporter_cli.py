"""`python -m exporters` flags: a bad flag is one line on stderr and exit 2."""

from __future__ import annotations

import argparse
import socket

import pytest

from exporters.cli import build_parser, build_sources, listen_address, main


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9096", ("127.0.0.1", 9096)),
        ("9100", ("127.0.0.1", 9100)),
        (":9100", ("127.0.0.1", 9100)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:9096", ("::1", 9096)),
    ],
)
def test_listen_address(text, expected):
    assert listen_address(text) == expected


@pytest.mark.parametrize("text", ["", "127.0.0.1", "host:0", "host:65536", "host:http", "127.0.0.1:-1"])
def test_bad_listen_address(text):
    with pytest.raises(argparse.ArgumentTypeError):
        listen_address(text)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "choose at least one collector"),
        (["--listen", "nowhere", "--gpu"], "--listen"),
        (["--gpu", "--poll-interval", "0"], "--poll-interval"),
        (["--gpu", "--poll-interval", "nan"], "--poll-interval"),
        (["--process-match", "(unclosed"], "not a regular expression"),
        (["--nginx-status-url", "127.0.0.1:9091/nginx_status"], "not an http(s) URL"),
        (["--docker", "--docker-url", "/var/run/docker.sock"], "not a Docker URL"),
        (["--docker-url", "unix:///var/run/docker.sock", "--gpu"], "need --docker"),
        (["--docker-label-filter", "a=b", "--gpu"], "need --docker"),
        (["--gpu", "--frobnicate"], "unrecognized arguments"),
    ],
)
def test_bad_flags_exit_2_with_one_line(argv, says, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err


def test_defaults_and_sources_in_flag_order():
    parser = build_parser()
    args = parser.parse_args(["--gpu", "--docker", "--process-pidfile-glob", "p/*.pid",
                              "--nginx-status-url", "http://127.0.0.1:9091/nginx_status"])
    assert args.listen == ("127.0.0.1", 9096) and args.poll_interval == 2.0
    assert [s.name for s in build_sources(parser, args)] == ["gpu", "docker", "process", "nginx"]
    assert build_parser().parse_args(["--no-gpu"]).gpu is False


def test_a_taken_port_is_one_line_and_exit_1(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--listen", f"127.0.0.1:{port}", "--process-match", "x"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in err
