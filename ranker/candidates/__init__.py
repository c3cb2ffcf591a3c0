"""Candidate preparation, one implementation for training, evaluation and the editor: raw LLM
answers -> whole programs (`prepare`: fences, prose, stop markers, a body joined to its
prompt, a parse check, duplicates merged with a count), and `applied`: the body as it lands in
the user's file (carried helpers, renamed parameters)."""

from ranker.candidates.prepare import (
    CandidateGroup,
    Preparation,
    PreparedCandidate,
    dedupe,
    dedupe_key,
    extract_code,
    prepare_candidate,
    prepare_candidates,
    program_sha,
    strip_stop_markers,
    to_program,
)

__all__ = [
    "CandidateGroup",
    "Preparation",
    "PreparedCandidate",
    "dedupe",
    "dedupe_key",
    "extract_code",
    "prepare_candidate",
    "prepare_candidates",
    "program_sha",
    "strip_stop_markers",
    "to_program",
]
