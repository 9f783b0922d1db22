"""Write a random-weight llama model in GGUF, so that llama-server runs with no download.

    python examples/llama_server/make_model.py model.gguf [--layers 4] [--dim 256]

The text it writes is noise, but the server does the real work of a model of this shape:
load it, allocate its KV cache and compute buffers, prefill and decode every token. Uses the
``gguf`` writer that ships with llama.cpp (``setup.sh`` puts it on the path) or the ``gguf``
package from PyPI.
"""

from __future__ import annotations

import argparse
import string

import numpy as np


def tokens() -> tuple:
    """A SentencePiece-style vocabulary: specials, 256 byte fallbacks, then a few pieces."""
    import gguf

    pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    types += [gguf.TokenType.BYTE] * 256
    words = ["\u2581" + c for c in string.ascii_lowercase] + list(string.ascii_letters + string.digits)
    words += ["\u2581the", "\u2581of", "\u2581and", "\u2581to", "\u2581in", "\u2581is"]
    assert len(set(words)) == len(words), "llama.cpp refuses a vocabulary with a repeated piece"
    pieces += words
    types += [gguf.TokenType.NORMAL] * len(words)
    scores = [0.0] * 259 + [-float(i) for i in range(len(words))]
    return pieces, scores, types


def write(path: str, layers: int, dim: int, heads: int, seed: int) -> None:
    import gguf

    rng = np.random.default_rng(seed)
    pieces, scores, types = tokens()
    vocab, ff = len(pieces), 4 * dim
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("random-llama")
    writer.add_context_length(262144)
    writer.add_embedding_length(dim)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_rope_dimension_count(dim // heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(pieces)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_chat_template(
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )

    def matrix(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.02).astype(np.float16)

    writer.add_tensor("token_embd.weight", matrix(vocab, dim))
    writer.add_tensor("output_norm.weight", np.ones(dim, dtype=np.float32))
    writer.add_tensor("output.weight", matrix(vocab, dim))
    for i in range(layers):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(dim, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"blk.{i}.{name}.weight", matrix(dim, dim))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(dim, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", matrix(ff, dim))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", matrix(ff, dim))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", matrix(dim, ff))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write(args.path, args.layers, args.dim, args.heads, args.seed)
    print(f"wrote {args.path}")


if __name__ == "__main__":
    main()
