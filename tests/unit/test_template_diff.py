"""The side-by-side line diff of template versions (common/template_diff.py)."""

from __future__ import annotations

from common.template_diff import parameters_text, side_by_side


def test_identical_texts_have_no_rows() -> None:
    diff = side_by_side("a\nb\n", "a\nb\n")
    assert diff.identical and diff.rows == []


def test_a_changed_line_is_paired_with_its_replacement_and_numbered_on_both_sides() -> None:
    diff = side_by_side("one\ntwo\nthree\n", "one\nTWO\nthree\nfour\n")
    kinds = [(r.kind, r.left and (r.left.number, r.left.text), r.right and (r.right.number, r.right.text))
             for r in diff.rows]
    assert kinds == [("same", (1, "one"), (1, "one")), ("changed", (2, "two"), (2, "TWO")),
                     ("same", (3, "three"), (3, "three")), ("added", None, (4, "four"))]
    assert (diff.removed, diff.added) == (1, 2)


def test_long_unchanged_stretches_collapse_into_gaps_that_count_their_lines() -> None:
    old = "\n".join(f"line {i}" for i in range(1, 41))
    new = old.replace("line 20", "line twenty")
    diff = side_by_side(old, new, context=2)
    assert [r.kind for r in diff.rows] == ["gap", "same", "same", "changed", "same", "same", "gap"]
    assert diff.rows[0].hidden == 17 and diff.rows[-1].hidden == 18
    assert sum(r.hidden for r in diff.rows) + 5 == 40  # every line accounted for exactly once


def test_markup_stays_plain_text_for_the_page_to_escape() -> None:
    diff = side_by_side("", "<script>alert(1)</script>")
    assert diff.rows[0].kind == "added" and diff.rows[0].right is not None
    assert diff.rows[0].right.text == "<script>alert(1)</script>"


def test_parameters_are_compared_as_the_editors_json_view_in_declared_order() -> None:
    text = parameters_text([{"name": "b", "type": "text"}, {"name": "a", "type": "number", "label": "Ä"}])
    assert text.index('"b"') < text.index('"a"') and "Ä" in text and text.count("\n") > 4
