"""Tune a real OpenAI-compatible server: deploy it per trial, benchmark it, grade how it failed.

Public API:
    server_trainable: a Ray Tune function trainable for a server command template.
    ServerError: what a served trial raises when its server fails (``.stage``, ``.exit_code``, ``.log_lines``,
        ``.errors``).

Example, vLLM on a GPU cluster (the package's searcher grades the failures)::

    from ray import tune
    from ray_graded_penalty import GradedPenaltySearcher
    from ray_graded_penalty.serving import server_trainable

    trainable = server_trainable(
        "vllm serve {model} --port {port} --max-num-seqs {max_num_seqs} "
        "--gpu-memory-utilization {gpu_memory_utilization}",
        model="Qwen/Qwen2.5-7B-Instruct", scenarios="D(512,128)", concurrency=[1, 2, 8],
        requests=200, goodput={"ttft_s": 0.5, "tpot_s": 0.05},
        ready_timeout_s=600,        # a cold vLLM start (weights, compilation, CUDA graphs) takes minutes
        check_executable=False)     # vLLM is on the GPU nodes, not the driver
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=900)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"gpu": 1}),
        param_space={"max_num_seqs": tune.choice([64, 128, 256]),
                     "gpu_memory_utilization": tune.uniform(0.7, 0.95)},
        tune_config=tune.TuneConfig(metric="goodput", mode="max", search_alg=searcher,
                                    num_samples=40),
        run_config=tune.RunConfig(callbacks=[searcher.callback]))  # Ray < 2.41: ray.train.RunConfig
"""

from ray_graded_penalty.serving.failure import ServerError
from ray_graded_penalty.serving.trainable import server_trainable

__all__ = ["ServerError", "server_trainable"]
