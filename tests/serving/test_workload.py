"""Workloads in tokens: seeded lengths per scenario, distinct prompts sized by the tokenizer."""

import glob
import os
import statistics

import pytest

from ray_graded_penalty.serving.workload import make_prompts, parse_scenario, plan_lengths


def test_scenarios_draw_seeded_lengths_of_their_kind():
    assert plan_lengths(parse_scenario("D(512,128)"), 3, seed=1) == [(512, 128)] * 3
    uniform = plan_lengths(parse_scenario("U(8,64)/(2,6)"), 500, seed=1)
    assert {i for i, _ in uniform} == set(range(8, 65)) and {o for _, o in uniform} == set(range(2, 7))
    normal = plan_lengths(parse_scenario("N(480,240)/(300,150)"), 2000, seed=1)
    assert min(i for i, _ in normal) == 1  # truncated at 1, not below
    assert 460 < sum(i for i, _ in normal) / 2000 < 500
    assert plan_lengths(parse_scenario("N(480,240)/(300,150)"), 50, seed=1) == normal[:50]
    assert plan_lengths(parse_scenario("N(480,240)/(300,150)"), 50, seed=2) != normal[:50]


def test_prompts_are_distinct_and_sized_by_the_tokenizer():
    from ray_graded_penalty.serving.workload import Tokenizer

    chars = Tokenizer(lambda text: [ord(c) for c in text], lambda ids: "".join(map(chr, ids)))
    prompts = make_prompts([100, 100, 7, 300], seed=0, tokenizer=chars)
    assert all(n - 1 <= len(p) <= n for p, n in zip(prompts, [100, 100, 7, 300])) and prompts[0] != prompts[1]
    assert not any(p[:1].isspace() for p in prompts)  # a leading space would read back as a token of its own
    ones = make_prompts([1] * 50, seed=0, tokenizer=chars)  # N(...) and U(...) truncate lengths at 1
    assert all(len(p) == 1 for p in ones) and any(p.isspace() for p in ones)  # a space stays: never empty
    assert make_prompts([100, 100, 7, 300], seed=0, tokenizer=chars) == prompts
    estimated = make_prompts([100, 50], seed=0, tokenizer=None)
    assert [len(p) for p in estimated] == [600, 300]  # six characters a token, an estimate


def test_no_prompt_of_a_load_shares_its_start_with_another_nor_a_load_with_another_load():
    """A prefix cache (vLLM's and SGLang's by default, llama-server's slots) would answer a
    prompt that repeats another's opening: 0.5 drew the starts with replacement (195 of 1000
    D(512,128) prompts repeated one on the estimate path) and sent a scenario's prompts again at
    each concurrency."""
    from ray_graded_penalty.serving.trainable import server_trainable
    from ray_graded_penalty.serving.trial import workload
    from ray_graded_penalty.serving.workload import Tokenizer

    words = Tokenizer(lambda text: text.split(" "), lambda ids: " ".join(ids))  # a token a word, as BPE does
    for tokenizer, opening in ((words, 16), (None, 64)):  # 16 tokens: vLLM's block; 64 characters
        prompts = make_prompts([512] * 1000, seed=0, tokenizer=tokenizer)
        assert len({p[:opening] if tokenizer is None else " ".join(p.split(" ")[:opening]) for p in prompts}) == 1000
    spec = server_trainable("server --port {port}", scenarios="D(64,8)", concurrency=[1, 4], requests=50,
                            warmup=5, check_executable=False).spec
    one, other = (workload(spec, plan, words) for plan in spec.loads)
    bodies = [r.body for r in one[0] + one[1]], [r.body for r in other[0] + other[1]]
    assert len(set(bodies[0]) | set(bodies[1])) == 110  # warmup and measured, both loads: none repeats
    assert [r.body for r in workload(spec, spec.loads[0], words)[1]] == bodies[0][5:]  # the same in every trial


def test_token_ids_are_read_from_each_servers_shape():
    from ray_graded_penalty.serving.workload import _token_ids

    assert _token_ids({"tokens": [1, 2, 3]}) == [1, 2, 3]  # llama.cpp, vLLM
    assert _token_ids({"tokens": [{"id": 5, "piece": "a"}]}) == [5]  # llama.cpp with pieces
    assert _token_ids([{"id": 7, "text": "a", "start": 0, "stop": 1}]) == [7]  # TGI
    assert _token_ids({"count": 3}) is None and _token_ids(None) is None and _token_ids({"tokens": ["a"]}) is None


LLAMA_HOME = os.environ.get("RGP_LLAMA_HOME", os.path.expanduser("~/.cache/ray-graded-penalty/llama.cpp"))
TOKENIZE = os.path.join(LLAMA_HOME, "bin", "llama-tokenize")


def vocabulary(name):
    """llama.cpp's vocabulary-only test file of a real tokenizer, from the source setup.sh built."""
    found = glob.glob(os.path.join(LLAMA_HOME, "src", "*", "vendor", "llama.cpp", "models", f"ggml-vocab-{name}.gguf"))
    if not (found and os.path.exists(TOKENIZE)):
        # Where RGP_LLAMA_HOME is set (CI's newest end, after setup.sh) they must be there.
        missing = pytest.fail if "RGP_LLAMA_HOME" in os.environ else pytest.skip
        missing(f"llama.cpp's llama-tokenize and vocabularies are not in {LLAMA_HOME}: run "
                "`bash examples/llama_server/setup.sh`")
    return found[0]


# Llama 3's BPE, the vocabulary the estimate was chosen on, and three it was measured on after
# (benchmarks/research/reading.md, "The prompt estimate, read by real tokenizers").
@pytest.mark.parametrize("name", ["llama-bpe", "qwen2", "llama-spm", "gpt-2"])
def test_prompts_sized_by_the_estimate_are_about_their_length_in_a_real_tokenizer(name):
    from benchmarks.research.prompt_tokens import count_tokens

    vocab, lengths = vocabulary(name), (128, 512, 2048)
    read = [count_tokens(TOKENIZE, vocab, prompt) / n
            for seed in range(3) for n, prompt in zip(lengths, make_prompts(lengths, seed, None))]
    assert 0.95 <= statistics.median(read) <= 1.1, read
