"""Hostile templates fail safely, each within its limit, and leave the next render unharmed."""

from __future__ import annotations

import asyncio
import time

import pytest

from common.reports.datasets import Dataset
from common.reports.errors import RenderError
from common.reports.sandbox import RenderLimits, render_report, render_report_async

LIMITS = RenderLimits(wall_seconds=4, cpu_seconds=2, memory_bytes=512 * 1024 * 1024, output_chars=200_000)
LOOSE_BOUND_SECONDS = 30  # far above every limit: only catches a render that was never stopped

PAYLOADS: list[tuple[str, str, set[str]]] = [
    ("mro subclasses", "{{ ''.__class__.__mro__[1].__subclasses__() }}", {"security"}),
    ("tuple base subclasses", "{{ ().__class__.__base__.__subclasses__() }}", {"security"}),
    ("cycler globals os", "{{ cycler.__init__.__globals__.os.popen('id').read() }}", {"security"}),
    ("joiner globals", "{{ joiner.__init__.__globals__ }}", {"security"}),
    ("namespace globals", "{{ namespace.__init__.__globals__['__builtins__'] }}", {"security"}),
    ("lipsum globals", "{{ lipsum.__globals__.os.system('id') }}", {"undefined", "security"}),
    ("attr filter", "{{ ''|attr('__class__') }}", {"security"}),
    ("format escape", "{{ '{0.__class__.__init__.__globals__}'.format(1) }}", {"security"}),
    ("private context", "{{ self._TemplateReference__context }}", {"security"}),
    ("range globals", "{{ range.__globals__ }}", {"security"}),
    ("flask config", "{{ config.items() }}", {"undefined"}),
    ("request globals", "{{ request.application.__globals__ }}", {"undefined"}),
    ("list mutation", "{% set x = [1] %}{{ x.append(2) }}", {"security"}),
    ("dict mutation", "{{ dict(a=1).update(b=2) }}", {"security"}),
    ("include a file", "{% include '/etc/passwd' %}", {"error"}),
    ("huge range", "{{ range(10**9) | list | length }}", {"limit"}),
    ("huge string", "{{ 'a' * 10**10 }}", {"limit"}),
    ("huge list", "{{ (range(100000) | list) * 1000 }}", {"limit"}),
    ("huge power", "{{ 9 ** 999999999 }}", {"limit"}),
    ("macro recursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", {"recursion"}),
    ("silent nested loops",
     "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", {"cpu", "timeout"}),
    ("loud nested loops",
     "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}", {"limit"}),
    ("string doubling",
     "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
     "{{ ns.s | length }}", {"memory", "cpu", "timeout"}),  # copying ~256 MiB strings: on a loaded machine
    # the time limits can end it before the allocation past the memory cap fails; every one is a safe ending
    ("printf width", "{{ '%0999999999d' % 1 }}", {"memory"}),
    ("format width", "{{ '{:>999999999}'.format(1) }}", {"memory"}),
]


@pytest.mark.parametrize(("body", "kinds"), [(b, k) for _, b, k in PAYLOADS], ids=[n for n, _, _ in PAYLOADS])
def test_hostile_template_fails_safely(body: str, kinds: set[str]) -> None:
    started = time.monotonic()
    with pytest.raises(RenderError) as caught:
        render_report(body, {}, LIMITS)
    assert caught.value.kind in kinds, caught.value.to_dict()
    assert "Traceback" not in caught.value.message
    assert time.monotonic() - started < LOOSE_BOUND_SECONDS


def test_a_render_after_hostile_ones_is_unharmed() -> None:
    with pytest.raises(RenderError):
        render_report("{{ '%0999999999d' % 1 }}", {}, LIMITS)
    result = render_report("# Fine {{ 6 * 7 }}", {}, LIMITS)
    assert "<h1>Fine 42</h1>" in result.html


def test_render_process_sees_no_secrets_of_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://secret@db/prod")
    # The sandbox gives no way to read the environment; check the child's environment directly.
    from common.reports import child

    assert "DATABASE_URL" not in child.environment()


def test_syntax_error_reports_the_template_line() -> None:
    with pytest.raises(RenderError) as caught:
        render_report("# Title\n\n{% for x in %}\n{% endfor %}", {}, LIMITS)
    assert (caught.value.kind, caught.value.line) == ("syntax", 3)


def test_undefined_variable_reports_line_and_name() -> None:
    with pytest.raises(RenderError) as caught:
        render_report("# Title\nok\n{{ missing_value }}\n", {}, LIMITS)
    assert caught.value.kind == "undefined"
    assert caught.value.line == 3
    assert "missing_value" in caught.value.message


def test_runtime_error_reports_line() -> None:
    with pytest.raises(RenderError) as caught:
        render_report("a\nb\n{{ 1 / 0 }}", {}, LIMITS)
    assert (caught.value.kind, caught.value.line, caught.value.message) == ("error", 3, "division by zero")


def test_template_and_dataset_size_are_checked_before_starting() -> None:
    with pytest.raises(RenderError, match="template is longer") as caught:
        render_report("x" * 300, {}, RenderLimits(template_chars=100))
    assert caught.value.kind == "limit"
    big = Dataset(columns=["a", "b"], rows=[{"a": i, "b": i} for i in range(100)])
    with pytest.raises(RenderError, match="cells") as caught:
        render_report("{{ data | count }}", {"data": big}, RenderLimits(dataset_cells=199))
    assert caught.value.kind == "limit"


def test_async_render_returns_the_result_and_enforces_the_deadline() -> None:
    async def scenario() -> tuple[str, str]:
        ok = await render_report_async("{{ n * 2 }}", {"n": 21}, LIMITS)
        try:
            await render_report_async(PAYLOADS[20][1], {}, RenderLimits(wall_seconds=1, cpu_seconds=30))
        except RenderError as exc:
            return ok.html, exc.kind
        return ok.html, "no error"

    html, kind = asyncio.run(scenario())
    assert "42" in html
    assert kind == "timeout"
