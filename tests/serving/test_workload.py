"""Workloads in tokens: seeded lengths per scenario, distinct prompts sized by the tokenizer."""




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
    assert [len(p) for p in prompts] == [100, 100, 7, 300] and prompts[0] != prompts[1]
    assert make_prompts([100, 100, 7, 300], seed=0, tokenizer=chars) == prompts
    estimated = make_prompts([100, 50], seed=0, tokenizer=None)
    assert [len(p) for p in estimated] == [400, 200]  # four characters a token, an estimate


def test_token_ids_are_read_from_each_servers_shape():
    from ray_graded_penalty.serving.workload import _token_ids

    assert _token_ids({"tokens": [1, 2, 3]}) == [1, 2, 3]  # llama.cpp, vLLM
    assert _token_ids({"tokens": [{"id": 5, "piece": "a"}]}) == [5]  # llama.cpp with pieces
    assert _token_ids([{"id": 7, "text": "a", "start": 0, "stop": 1}]) == [7]  # TGI
    assert _token_ids({"count": 3}) is None and _token_ids(None) is None and _token_ids({"tokens": ["a"]}) is None
