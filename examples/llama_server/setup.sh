#!/usr/bin/env bash
# Build llama.cpp's llama-server and write a random-weight model, for examples/llama_server.
#
#   bash examples/llama_server/setup.sh            # into ~/.cache/ray-graded-penalty/llama.cpp
#   bash examples/llama_server/setup.sh /some/dir  # or into a directory of your choice
#
# Needs cmake, a C++ compiler, and a Python with pip and numpy (PYTHON=..., default python3).
# Only the package registry is used: llama.cpp comes from the llama-cpp-python source
# distribution, which vendors it. Building llama-server took 9 minutes on 2 cores here; it is
# done once. What it leaves in the directory:
#   bin/llama-server   a static binary built for any x86-64 CPU (GGML_NATIVE=OFF)
#   bin/llama-tokenize llama.cpp's tokenizer, for the tests (src/ keeps its vocabulary files)
#   model.gguf         a random-weight llama model (no download; see make_model.py)
# Point the example and the tests at it with RGP_LLAMA_HOME=<the directory> (the default is
# the directory above).
set -euo pipefail
LLAMA_CPP_PYTHON_VERSION=0.3.36   # the llama.cpp it vendors is what gets built
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${1:-${RGP_LLAMA_HOME:-$HOME/.cache/ray-graded-penalty/llama.cpp}}"
jobs="${JOBS:-$(nproc)}"
python="${PYTHON:-python3}"
case "$python" in */*) python="$(realpath "$python")" ;; esac
mkdir -p "$prefix/bin" "$prefix/src"
cd "$prefix/src"

if [ ! -x "$prefix/bin/llama-server" ]; then
    sdist="llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
    if [ ! -f "$sdist" ]; then
        "$python" -m pip download --quiet --no-deps --no-binary :all: \
            "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d .
    fi
    src="llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
    [ -d "$src" ] || tar xzf "$sdist" "$src"
    cmake -S "$src" -B build -G "$(command -v ninja >/dev/null && echo Ninja || echo 'Unix Makefiles')" \
        -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
    time cmake --build build --target llama-server -j "$jobs"
    cp build/bin/llama-server "$prefix/bin/llama-server"
fi
if [ ! -x "$prefix/bin/llama-tokenize" ] && [ -f build/build.ninja -o -f build/Makefile ]; then
    # llama.cpp's tokenizer on its own (seconds, from what llama-server's build left): the tests
    # read the package's estimated prompts with the real vocabularies llama.cpp ships for its own
    # tests (models/ggml-vocab-*.gguf, kept under src/).
    cmake --build build --target llama-tokenize -j "$jobs"
    cp build/bin/llama-tokenize "$prefix/bin/llama-tokenize"
fi
"$prefix/bin/llama-server" --version 2>&1 | head -2

if [ ! -f "$prefix/model.gguf" ]; then
    gguf_py="$prefix/src/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp/gguf-py"
    [ -d "$gguf_py" ] || tar xzf "$prefix/src/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz" \
        -C "$prefix/src" "llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp/gguf-py"
    PYTHONPATH="$gguf_py" "$python" "$here/make_model.py" "$prefix/model.gguf"
fi
echo "ready: RGP_LLAMA_HOME=$prefix"
