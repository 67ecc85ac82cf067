"""Overhead of inference-time steering hooks on greedy generation with the embedded SmolLM2 model.

Run by hand; prints a markdown table::

    python benchmarks/steering_overhead.py                       # 32 new tokens, 3 repeats, batch 8, top 5 layers
    python benchmarks/steering_overhead.py --new-tokens 16 --repeats 2 --device cuda

The steering vectors are random unit directions (3 helpful and 3 harmful per layer) on the top
``--layers`` decoder layers, at the MLP site. Steering changes which tokens come out, and a row that
emits EOS early would make a run shorter, so, as ``benchmarks/hf_load_and_dtype.py`` does, both runs
call ``model.generate`` on the same left-padded batch with ``min_new_tokens == max_new_tokens``
(greedy): every run generates exactly the same number of tokens. The unsteered and steered runs are
interleaved after one warm-up each, so a burst of load elsewhere hits both alike. Goal: steered /
unsteered <= 1.10x.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from hf_load_and_dtype import PROMPTS  # the same 8 prompts as the dtype benchmark (this script's folder)


def random_vectors(n_layers: int, top: int, d: int, k: int, seed: int) -> Any:
    import torch

    from pytest_llmtrust.steering.artefact import SteeringVectors

    gen = torch.Generator().manual_seed(seed)
    layers = tuple(range(n_layers - top, n_layers))

    def rows() -> torch.Tensor:
        q, _ = torch.linalg.qr(torch.randn(d, k, generator=gen))
        return q.T.contiguous()

    return SteeringVectors(
        helpful={layer: rows() for layer in layers},
        harmful={layer: rows() for layer in layers},
        layers=layers,
        meta={"method": "random", "benchmark": "steering_overhead"},
    )


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layers", type=int, default=5, help="steer the top N decoder layers")
    parser.add_argument("--k", type=int, default=3, help="directions per set (helpful and harmful)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--artefact", default=None, help="a saved steering artefact instead of random directions")
    args = parser.parse_args()

    import torch

    from pytest_llmtrust.backends.hf import HFBackend, _left_pad
    from pytest_llmtrust.backends.registry import load_backend
    from pytest_llmtrust.steering.hooks import active_hooks, steer
    from pytest_llmtrust.steering.layers import decoder_layers

    if args.threads:
        torch.set_num_threads(args.threads)
    backend = load_backend(f"smollm2?device={args.device}&dtype={args.dtype}")
    if not isinstance(backend, HFBackend):
        raise SystemExit(f"smollm2 loaded as {type(backend).__name__}, expected HFBackend")
    model = backend.model
    n_layers = len(decoder_layers(model))
    if args.artefact:
        from pytest_llmtrust.steering.artefact import SteeringVectors

        vectors = SteeringVectors.load(args.artefact)
        sizes = {layer: int(vectors.helpful[layer].shape[0]) for layer in vectors.layers}
        print(f"artefact {args.artefact}: layers and directions per set {sizes}")
    else:
        vectors = random_vectors(n_layers, args.layers, int(model.config.hidden_size), args.k, seed=0)
    rows = [backend.encode(p) for p in PROMPTS]
    input_ids, mask = _left_pad(rows, int(backend.tokenizer.pad_token_id))
    input_ids, mask = input_ids.to(backend.device), mask.to(backend.device)

    def run(n: int) -> tuple[float, Any]:
        if backend.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=n,
                min_new_tokens=n,
                do_sample=False,
                pad_token_id=backend.tokenizer.pad_token_id,
            )
        if backend.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start, out

    def steered(n: int) -> tuple[float, Any]:
        with steer(model, vectors):
            if active_hooks(model) != len(vectors.layers):
                raise SystemExit(f"expected {len(vectors.layers)} steering hooks, found {active_hooks(model)}")
            return run(n)

    run(4)  # warm-up
    steered(4)
    plain_times: list[float] = []
    steer_times: list[float] = []
    changed = 0
    for _ in range(args.repeats):  # interleaved
        t_plain, out_plain = run(args.new_tokens)
        t_steer, out_steer = steered(args.new_tokens)
        plain_times.append(t_plain)
        steer_times.append(t_steer)
        changed = int((out_plain != out_steer).any(dim=1).sum())
    if active_hooks(model) != 0:
        raise SystemExit("steering hooks were left on the model")
    tokens = len(PROMPTS) * args.new_tokens
    plain, steer_median = statistics.median(plain_times), statistics.median(steer_times)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {backend.device}, {backend.dtype}; "
        f"batch {len(PROMPTS)}, {args.new_tokens} new tokens (fixed), {args.repeats} interleaved repeats; "
        f"steered layers {list(vectors.layers)} of {n_layers}, site {vectors.site}, "
        f"directions per set {[int(vectors.helpful[layer].shape[0]) for layer in vectors.layers]}\n"
    )
    print("| run | median s | tokens/s (median) |\n|---|---|---|")
    print(f"| unsteered | {plain:.3f} | {tokens / plain:.1f} |")
    print(f"| steered | {steer_median:.3f} | {tokens / steer_median:.1f} |")
    print(f"| steered / unsteered | {steer_median / plain:.3f}x (goal <= 1.10x) | |")
    print(f"\nrows whose greedy tokens the steering changed: {changed} of {len(PROMPTS)}")


if __name__ == "__main__":
    main()
