"""answers.each: a graded answer's calls made in one fresh process, raising at their turn."""
import os

import pytest

from autograder.answers import Remote, each
from autograder.shipping import ship
from conftest import defined

F = '''
def f(x):
    import os
    if x == 3:
        raise ValueError("three")
    return [x, os.getpid()]
'''


@pytest.mark.parametrize("graded", [False, True])
def test_each_gives_values_in_order_then_raises_at_the_call_that_raised(graded):
    fn = defined(F, "f")
    answer = Remote(ship(fn)) if graded else fn
    got = each(answer, [(1,), (2,), (3,), (4,)])
    a, b = next(got), next(got)
    assert (a[0], b[0]) == (1, 2)
    assert a[1] == b[1] and (a[1] != os.getpid()) == graded     # graded: one other process for all
    with pytest.raises(ValueError, match="three"):
        next(got)


def test_each_passes_keywords():
    fn = defined("def g(a, b=0):\n    return a + 10 * b\n", "g")
    assert list(each(Remote(ship(fn)), [(1,), (2,)], [{"b": 1}, {"b": 2}])) == [11, 22]
