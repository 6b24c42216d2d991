"""Load-time validation: every problem class, as exact ``file:line: message`` lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.domain.ivr import FlowError, FlowProblem, check_files, load_flow
from callcenter.domain.ivr.flow import MenuNode
from tests.unit.ivr.flowkit import write_flow

FIXTURES = Path(__file__).parent / "fixtures"


def _lines(path: Path) -> list[str]:
    return [str(problem) for problem in check_files([path])]


def test_broken_graph_fixture_reports_every_graph_problem() -> None:
    path = FIXTURES / "broken_graph.yaml"
    assert _lines(path) == [
        f"{path}:8: node 'welcome': unknown target 'mian_menu'",
        f"{path}:9: node 'main_menu' is unreachable from start 'welcome'",
        f"{path}:14: node 'main_menu': unknown target 'nowhere'",
        f"{path}:15: node 'billing' is unreachable from start 'welcome'",
        f"{path}:18: node 'limbo' is unreachable from start 'welcome'",
        f"{path}:18: node 'limbo' is a dead end: a say node needs on.done",
        f"{path}:21: node 'ping' is unreachable from start 'welcome'",
        f"{path}:21: node 'ping' never reaches a queue, transfer or hangup",
        f"{path}:25: node 'pong' is unreachable from start 'welcome'",
        f"{path}:25: node 'pong' never reaches a queue, transfer or hangup",
        f"{path}:29: node 'check' is unreachable from start 'welcome'",
        f"{path}:29: node 'check' is a dead end: a condition node needs a default",
    ]


def test_broken_schema_fixture_reports_every_schema_problem() -> None:
    path = FIXTURES / "broken_schema.yaml"
    missing = (FIXTURES / "missing.wav").resolve()
    assert _lines(path) == [
        f"{path}:4: unknown key 'layout' (a flow has: version, description, start, language, "
        "variables, nodes)",
        f"{path}:8: node 'welcome': stray '{{' in text 'Hello {{name}}, {{oops' "
        "(write {{ or }} for a literal brace)",
        f"{path}:9: node 'welcome': unknown key 'colour' for a say node",
        f"{path}:10: node 'welcome': unknown event 'finished' (a say node has: done)",
        f"{path}:13: node 'menu': 'english' is not a language code (like en, es, pt-br)",
        f"{path}:14: node 'menu': option '12' is not a single DTMF key (0-9, *, #, A-D)",
        f"{path}:15: node 'menu': 'timeout' must be a positive number of seconds",
        f"{path}:16: node 'menu': 'retries' must be between 0 and 10",
        f"{path}:19: node 'account': text has no 'en' version (the flow's default language)",
        f"{path}:20: node 'account': variable 'caller' is read-only",
        f"{path}:21: node 'account': 'min_length' 8 is above 'max_length' 4",
        f"{path}:23: node 'account': 'terminator' is empty: quote the key, as in "
        'terminator: "#" (or "" for none)',
        f"{path}:24: node 'account': 'pattern' is not a valid regex "
        "(unterminated character set at position 0)",
        f"{path}:30: node 'hours': unknown time zone 'Mars/Olympus_Mons'",
        f"{path}:33: node 'hours': bad time range '18:00-08:00' "
        "(expected HH:MM-HH:MM, start before end)",
        f"{path}:34: node 'hours': unknown weekday 'funday' "
        "(use mon, tue, wed, thu, fri, sat, sun)",
        f"{path}:35: node 'hours': bad date '2026-13-01' (expected YYYY-MM-DD)",
        f"{path}:35: node 'hours': bad date '25/12/2026' (expected YYYY-MM-DD)",
        f"{path}:37: node 'hours': case needs exactly one test of hours, caller_matches, "
        "variable (found caller_matches, variable)",
        f"{path}:45: node 'queue': 'priority' must be an integer",
        f"{path}:46: node 'queue': level of skill 'billing' must be between 1 and 10",
        f"{path}:47: node 'music' is unreachable from start 'welcome'",
        f"{path}:48: node 'music': unknown node type 'dance' (expected one of: collect, "
        "condition, hangup, menu, play, queue, say, set, transfer)",
        f"{path}:50: node 'goodbye' is unreachable from start 'welcome'",
        f"{path}:52: node 'goodbye': prompt file 'missing.wav' not found at {missing}",
    ]


def test_broken_syntax_fixture_points_at_the_error() -> None:
    path = FIXTURES / "broken_syntax.yaml"
    assert _lines(path) == [
        f"{path}:8: YAML syntax error: found unexpected end of stream "
        "(while scanning a quoted scalar started on line 6)"
    ]


def test_load_flow_raises_with_all_problems() -> None:
    path = FIXTURES / "broken_graph.yaml"
    with pytest.raises(FlowError) as caught:
        load_flow(path)
    assert len(caught.value.problems) == 12
    assert caught.value.problems[0] == FlowProblem(
        str(path), 8, "node 'welcome': unknown target 'mian_menu'"
    )
    assert (
        str(caught.value).splitlines()[0] == f"{path}:8: node 'welcome': unknown target 'mian_menu'"
    )


def test_check_files_covers_several_files_and_good_ones_are_silent() -> None:
    sample = Path(__file__).parents[3] / "ivr_flows" / "support.yaml"
    problems = check_files([sample, FIXTURES / "broken_syntax.yaml", sample])
    assert [problem.file for problem in problems] == [str(FIXTURES / "broken_syntax.yaml")]


GOOD_TAIL = """
  end: {type: hangup}
"""

CASES = [
    pytest.param("", ["1: flow file is empty"], id="empty"),
    pytest.param("- a\n- b\n", ["1: a flow file must be a mapping"], id="not-a-mapping"),
    pytest.param(
        "start: end\nnodes:\n  end: {type: hangup}\n",
        ["1: missing key 'version' (this loader reads version 1)"],
        id="no-version",
    ),
    pytest.param(
        "version: 2\nstart: end\nnodes:\n  end: {type: hangup}\n",
        ["1: unsupported version '2' (expected 1)"],
        id="bad-version",
    ),
    pytest.param(
        "version: 1\nnodes:\n  end: {type: hangup}\n",
        ["1: missing key 'start'"],
        id="no-start",
    ),
    pytest.param("version: 1\nstart: end\n", ["1: missing key 'nodes'"], id="no-nodes"),
    pytest.param(
        "version: 1\ndescription: {x: 1}\nstart: end\nnodes:\n  end: {type: hangup}\n",
        ["2: 'description' must be a string"],
        id="description-not-text",
    ),
    pytest.param(
        "version: 1\nstart: nowhere\nnodes:\n  end: {type: hangup}\n",
        ["2: start node 'nowhere' is not defined"],
        id="start-undefined",
    ),
    pytest.param(
        "version: 1\nstart: end\nstart: end\nnodes:\n  end: {type: hangup}\n",
        ["3: duplicate key 'start' in a flow file"],
        id="duplicate-key",
    ),
    pytest.param(
        "version: 1\nstart: end\nnodes:\n  end: {type: hangup}\n  end: {type: hangup}\n",
        ["5: duplicate key 'end' in 'nodes'"],
        id="duplicate-node",
    ),
    pytest.param(
        "version: 1\nstart: end\nnodes:\n  end: {reason: x}\n",
        ["4: node 'end': missing key 'type'"],
        id="missing-type",
    ),
    pytest.param(
        "version: 1\nstart: q\nnodes:\n  q: {type: queue, priority: 1}\n",
        ["4: node 'q': missing key 'queue'"],
        id="missing-required-key",
    ),
    pytest.param(
        "version: 1\nstart: q\nnodes:\n  q:\n    type: queue\n    queue: [a, b]\n",
        ["6: node 'q': 'queue' must be a string"],
        id="ill-typed-key",
    ),
    pytest.param(
        "version: 1\nstart: end\nnodes:\n  end: {type: hangup, on: {done: end}}\n",
        ["4: node 'end': unknown key 'on' for a hangup node"],
        id="on-for-terminal",
    ),
    pytest.param(
        "version: 1\nstart: s\nnodes:\n  s:\n    type: say\n    say: 'Hi {who}.'\n"
        "    on: {done: end}\n" + GOOD_TAIL,
        ["6: node 's': unknown variable 'who'"],
        id="unknown-variable",
    ),
    pytest.param(
        "version: 1\nstart: end\nvariables: {caller: x, lang: en, 9lives: y}\nnodes:\n"
        "  end: {type: hangup}\n",
        [
            "3: variable 'caller' is set by the call, not declared",
            "3: variable 'lang' is set by the call, not declared",
            "3: '9lives' is not a valid variable name",
        ],
        id="reserved-variables",
    ),
    pytest.param(
        "version: 1\nstart: c\nnodes:\n  c:\n    type: condition\n    cases:\n"
        "      - variable: lang\n        equals: fr\n        matches: f.*\n        next: end\n"
        "      - hours: {timezone: UTC}\n        next: end\n"
        "      - caller_matches: '^+33'\n        next: end\n"
        "      - caller_matches: x\n        equals: y\n"
        "    default: end\n" + GOOD_TAIL,
        [
            "7: node 'c': a variable test needs exactly one of 'equals' or 'matches'",
            "11: node 'c': hours need 'weekly' opening times",
            "13: node 'c': 'caller_matches' is not a valid regex (nothing to repeat at position 1)",
            "15: node 'c': case is missing 'next'",
            "16: node 'c': 'equals' only goes with a 'variable' test",
        ],
        id="condition-cases",
    ),
    pytest.param(
        "version: 1\nstart: m\nnodes:\n  m:\n    type: menu\n    options: {}\n",
        ["6: node 'm': 'options' must not be empty"],
        id="empty-options",
    ),
    pytest.param(
        "version: 1\nstart: s\nlanguage: English\nnodes:\n  s: {type: set, set: {call_id: x},"
        " on: {done: end}}\n" + GOOD_TAIL,
        [
            "3: 'English' is not a language code (like en, es, pt-br)",
            "5: node 's': variable 'call_id' is read-only",
        ],
        id="language-and-read-only-set",
    ),
    pytest.param(
        "version: 1\nstart: p\nnodes:\n  p: {type: play, play: notes.txt, on: {done: end}}\n"
        + GOOD_TAIL,
        ["4: node 'p': prompt file 'notes.txt' is not a .wav file"],
        id="play-not-wav",
    ),
    pytest.param(
        "version: 1\nstart: p\nnodes:\n  p: {type: play, play: fake.wav, on: {done: end}}\n"
        + GOOD_TAIL,
        ["4: node 'p': prompt file 'fake.wav' is not a RIFF/WAVE file"],
        id="play-not-riff",
    ),
    pytest.param(
        "version: 1\nstart: m\nnodes:\n  m:\n    type: menu\n    options: {'1': end}\n"
        "    prompt: [{play: fake.wav, say: hi}]\n    invalid: []\n" + GOOD_TAIL,
        [
            "7: node 'm': unknown key 'say' in a play prompt",
            "7: node 'm': prompt file 'fake.wav' is not a RIFF/WAVE file",
            "8: node 'm': 'invalid' must not be an empty list",
        ],
        id="prompt-items",
    ),
    pytest.param(
        "version: 1\nstart: c\nnodes:\n  c:\n    type: collect\n    timeout: 0\n"
        "    inter_digit_timeout: -1\n    terminator: '##'\n    on: {done: end}\n" + GOOD_TAIL,
        [
            "4: node 'c': missing key 'into'",
            "6: node 'c': 'timeout' must be a positive number of seconds",
            "7: node 'c': 'inter_digit_timeout' must be a positive number of seconds",
            "8: node 'c': terminator '##' is not a single DTMF key (0-9, *, #, A-D)",
        ],
        id="collect-keys",
    ),
    pytest.param(
        "version: 1\nstart: a\nnodes:\n  a: {type: say, say: hi, on: {done: b}}\n"
        "  b: {type: set, set: {x: '1'}}\n",
        ["5: node 'b' is a dead end: a set node needs on.done"],
        id="dead-end-set",
    ),
    pytest.param(
        "version: 1\nstart: a\nnodes:\n  a: {type: collect, into: x}\n",
        ["4: node 'a' is a dead end: a collect node needs on.done"],
        id="dead-end-collect",
    ),
    pytest.param(
        "version: 1\nstart: a\nnodes:\n  a:\n    type: condition\n    cases:\n"
        "      - {variable: x, equals: '1', next: end}\n    default: elsewhere\n" + GOOD_TAIL,
        ["8: node 'a': unknown target 'elsewhere'", "7: node 'a': unknown variable 'x'"],
        id="condition-target-and-variable",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_validation_problem(tmp_path: Path, text: str, expected: list[str]) -> None:
    (tmp_path / "fake.wav").write_bytes(b"not really audio")
    path = tmp_path / "flow.yaml"
    path.write_text(text, encoding="utf-8")
    assert sorted(_lines(path)) == sorted(f"{path}:{line}" for line in expected)


def test_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert _lines(missing) == [f"{missing}:1: cannot read flow file: No such file or directory"]
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("say: 'caf\xe9'".encode("latin-1"))
    assert _lines(latin) == [f"{latin}:1: flow file is not UTF-8 text"]


def test_minimal_flow_loads_with_defaults(tmp_path: Path) -> None:
    flow = load_flow(
        write_flow(tmp_path, "version: 1\nstart: end\nnodes:\n  end: {type: hangup}\n")
    )
    assert flow.start == "end"
    assert flow.language == "en"
    assert flow.variables == {}
    assert flow.path == str(tmp_path / "flow.yaml")


def test_plain_yaml_values_are_read_as_text(tmp_path: Path) -> None:
    flow = load_flow(
        write_flow(
            tmp_path,
            """
            version: 1
            start: menu
            variables: {tier: 3}
            nodes:
              menu: {type: menu, prompt: "Press 1.", options: {1: ext}}
              ext: {type: transfer, target: 1001}
            """,
        )
    )
    assert flow.variables == {"tier": "3"}
    node = flow.nodes["menu"]
    assert isinstance(node, MenuNode)
    assert node.options == {"1": "ext"}
