"""A small file to try toppass on: put the cursor in a function and ask for candidates.

toppass-ls suggest examples/demo.py:7
"""


def unique_sorted(xs: list[int]) -> list[int]:
    """Return the distinct elements of xs in increasing order.

    >>> unique_sorted([3, 1, 3, 2])
    [1, 2, 3]
    """
    raise NotImplementedError


def is_palindrome(text: str) -> bool:
    """True when text reads the same backwards, ignoring case and spaces.

    >>> is_palindrome("Never odd or even")
    True
    """
    raise NotImplementedError
