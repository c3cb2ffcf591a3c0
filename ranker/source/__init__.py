"""One analysis of Python source, shared by the server, candidate preparation and training
(standard library only; nothing here runs code):

    trees    parse a prompt (cached: one request asks it of the same prompt from several
             places), find a function by the one rule Python keeps, its parameters,
             docstring and decorators, where its body starts
    names    the names a tree defines, binds and reads
    context  the function at a line of a document (`FunctionContext`): what the model
             completes, what an edit replaces, what the rest of the file defines
"""

from ranker.source.context import (
    FunctionContext,
    context_for_prompt,
    function_at,
    function_named,
)
from ranker.source.names import bound_names, defined_names, read_names
from ranker.source.trees import (
    FunctionNode,
    body_start,
    comment_start,
    decorated_start,
    defines,
    docstring_node,
    find_function,
    parse_prompt,
    positional_parameters,
    split_lines,
)

__all__ = [
    "FunctionContext",
    "FunctionNode",
    "body_start",
    "bound_names",
    "comment_start",
    "context_for_prompt",
    "decorated_start",
    "defined_names",
    "defines",
    "docstring_node",
    "find_function",
    "function_at",
    "function_named",
    "parse_prompt",
    "positional_parameters",
    "read_names",
    "split_lines",
]
