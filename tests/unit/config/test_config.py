from __future__ import annotations

import re
from pathlib import Path

import pytest

from callcenter.config import ConfigError, load_config


def test_defaults_need_no_file_and_no_redis() -> None:
    config = load_config(environ={})
    assert config.redis_url is None  # embedded redis-server
    assert config.sip.port == 5060
    assert config.http.port == 8080
    assert config.numbers["100"] == "support.yaml"
    assert config.flow_path("support.yaml").is_file()  # the shipped sample flow


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "cc.yaml"
    path.write_text("sip:\n  port: 5070\n  invite_burst: 5\nhttp:\n  port: 9000\n")
    config = load_config(
        path,
        environ={"CALLCENTER_SIP__PORT": "5080", "CALLCENTER_MEDIA__MAX_WORKERS": "7"},
        overrides={"http.port": 9100, "data_dir": None},
    )
    assert config.sip.port == 5080  # environment beats file
    assert config.sip.invite_burst == 5  # file beats default
    assert config.http.port == 9100  # flag beats file
    assert config.media.max_workers == 7
    assert config.data_dir == Path("data")  # an absent flag hides nothing


def test_flows_dir_in_a_file_is_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "cc.yaml"
    path.write_text("flows_dir: flows\nnumbers:\n  '200': sales.yaml\n")
    config = load_config(path, environ={})
    assert config.flow_path("sales.yaml") == (tmp_path / "conf" / "flows" / "sales.yaml")
    assert config.numbers == {"200": "sales.yaml"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sip:\n  prot: 5070\n", "sip.prot: unknown configuration key"),
        ("sip:\n  port: many\n", "sip.port: expected a whole number, got 'many'"),
        ("sip:\n  port: 70000\n", "sip.port: 70000 is not a port number"),
        ("sip: 5060\n", "sip: expected a mapping, got int"),
        ("- a\n- b\n", "the top level must be a mapping"),
        ("sip: [unclosed\n", "invalid YAML"),
        ("media:\n  slots_per_call: 5\n", "media.slots_per_call: must be between 1"),
        ("http:\n  tokens:\n    short: admin\n", "at least 16 characters"),
        ("http:\n  tokens:\n    0123456789abcdef0: boss\n", "role 'boss' is not"),
        ("numbers: {}\n", "at least one dialled number"),
    ],
)
def test_bad_files_say_which_key_and_why(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cc.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as caught:
        load_config(path, environ={})
    assert message in str(caught.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml", environ={})


def test_recording_settings_and_their_errors(tmp_path: Path) -> None:
    config = load_config(None, environ={})
    assert config.queues["billing"].recording == "always"
    assert config.recording.spool_dir == Path("recordings/.spool")
    assert config.recording.pause_code == "*1" and config.recording.resume_code == "*2"
    good = tmp_path / "good.yaml"
    good.write_text(
        'queues: {billing: {recording: "25%"}}\nrecording: {directory: /r, spool: /s}\n'
    )
    loaded = load_config(good, environ={})
    assert loaded.queues["billing"].recording == "25%" and loaded.recording.spool_dir == Path("/s")
    for text, message in [
        ("queues: {billing: {recording: sometimes}}", "queues.billing.recording: 'sometimes'"),
        ("recording: {pause_code: '*x'}", "recording.pause_code: 1-8 keys"),
        ("recording: {pause_code: '*2', resume_code: '2'}", "one ends the other"),
        ("recording: {ivr: true}", "recording.ivr: unknown configuration key"),
    ]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_config(bad, environ={})
