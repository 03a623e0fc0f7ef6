"""Writer speed on one machine: in process (the transformers backend) against a llama.cpp server,
the same GGUF file on both sides, interleaved in one run.

- **in-process**: ``backend = "transformers"`` with the GGUF file as ``writer_model`` (transformers
  reads it with ``gguf_file``), as a user's ``--model file.gguf`` runs.
- **llama.cpp**: ``python -m llama_cpp.server`` (``pip install 'llama-cpp-python[server]'``) serving
  the file on 127.0.0.1 and ``backend = "openai"`` against it.

Both sides get ``--threads`` threads (default: every CPU): torch's in process, ``--n_threads`` on
the server.

Each run writes ``--texts`` alt texts through ``alttext.pipeline.describe`` in a fresh process: the
captions of the first COCO photos of ``../shared/datasets/coco-dev`` are the evidence (no captioner,
no OCR, no image read), so the time is the writer's: the real prompt, the checks and the retries,
with every setting at its default (``batch_size`` rows in process; ``concurrency`` requests in
flight to the server, which answers one at a time). Runs alternate, in-process then server, for
``--rounds`` rounds. Two times per run:

- **load excluded**: the ``describe`` call alone, the model already loaded (the server up);
- **load included**: from nothing to the last alt text: the client process (Python, imports,
  loading the model in process) and, for the server, its start until ``/v1/models`` answers.

The ratios are server time / in-process time (above 1: in process is faster). Sampling is each
side's default (temperature 0.6, top_p 0.95; top_k 20 in process, llama.cpp's 40 on the server),
so answers, and their lengths, differ: the writer calls and answer characters of each run are
printed beside its time. The GGUF files come from ``../shared/tools/real-llms.sh DIR``.

    python3 benchmarks/bench_servers.py [--model qwen25|smollm2|FILE.gguf] [--texts N] [--rounds R] [--threads T] [--llms DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(REPO), "shared")
COCO = os.path.join(SHARED, "datasets", "coco-dev", "dev.jsonl")
MODELS = {"qwen25": "Qwen2.5-Coder-0.5B-Instruct.Q4.gguf", "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf"}
ALIAS = "bench"  # the name the server answers to
READY_S = 300.0  # a server that has not answered /v1/models by then has failed
SIDES = ("in-process", "llama.cpp")

sys.path.insert(0, REPO)
os.environ.setdefault("HF_HUB_OFFLINE", "1")


# The child: one run of --texts alt texts, in a process of its own ----------------------------


def child(args: argparse.Namespace) -> int:
    import dataclasses

    from alttext.model import Settings
    from alttext.pipeline import describe as pipeline
    from alttext.model import Context

    backend = "transformers" if args.child == "in-process" else "openai"
    settings = dataclasses.replace(Settings(), backend=backend, writer_model=args.gguf if backend == "transformers" else ALIAS,
                                   base_url=args.base_url, captioner="none", ocr="off", device="cpu", cache=False, language="en")
    captions = _captions(args.texts)
    started = time.perf_counter()
    if backend == "transformers":
        import torch

        torch.set_num_threads(args.threads)  # the server's count: the same CPUs on both sides
    writer = pipeline.make_writer(settings)
    assert writer is not None
    writer.load()
    load_s = time.perf_counter() - started
    counting = _Counting(writer)
    started = time.perf_counter()
    results = pipeline.describe([""] * len(captions), [Context()] * len(captions), settings, captions=[(c,) for c in captions],
                                writer=counting)
    write_s = time.perf_counter() - started
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"load_s": load_s, "write_s": write_s, "calls": counting.calls, "chars": counting.chars,
                   "texts": sum(1 for r in results if r.text)}, f)
    return 0


class _Counting:
    """The writer, counting the answers it gives (a retry is a second call) and their length."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls, self.chars = inner, 0, 0

    def __getattr__(self, name: str) -> Any:  # loaded, batch_size, keep, forget: as the pipeline asks
        return getattr(self.inner, name)

    def write(self, conversations: Any, seeds: Any) -> list[str]:
        answers = self.inner.write(conversations, seeds)
        self.calls += len(answers)
        self.chars += sum(len(a) for a in answers)
        return answers


def _captions(n: int) -> list[str]:
    with open(COCO, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if len(rows) < n:
        raise SystemExit(f"bench_servers: {COCO} has {len(rows)} photos, fewer than --texts {n}")
    return [r["caption"] for r in rows[:n]]


# The parent: the runs, interleaved -----------------------------------------------------------


def run_child(side: str, gguf: str, texts: int, threads: int, base_url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run.json")
        command = [sys.executable, os.path.abspath(__file__), "--child", side, "--gguf", gguf, "--texts", str(texts),
                   "--threads", str(threads), "--base-url", base_url, "--out", out]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"bench_servers: the {side} run failed ({done.returncode}):\n{done.stdout[-3000:]}")
        with open(out, encoding="utf-8") as f:
            result = json.load(f)
    result["process_s"] = wall
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(gguf: str, threads: int, port: int, log: Any) -> tuple[subprocess.Popen[bytes], float]:
    """The llama.cpp server, and the seconds from its start until /v1/models answers."""
    command = [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--model_alias", ALIAS, "--host", "127.0.0.1",
               "--port", str(port), "--n_threads", str(threads), "--n_threads_batch", str(threads), "--n_ctx", "4096"]
    started = time.perf_counter()
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited ({server.returncode})")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as response:
                response.read()
            return server, time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.perf_counter() - started > READY_S:
                server.kill()
                raise RuntimeError(f"llama_cpp.server did not answer within {READY_S:.0f} s") from None
            time.sleep(0.1)


def stop_server(server: subprocess.Popen[bytes]) -> int | None:
    """Stop it; the exit status it had died with before that, or None when it was still running."""
    died = server.poll()
    if died is None:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return died


def run_server_side(gguf: str, texts: int, threads: int) -> dict[str, Any]:
    port = free_port()
    with tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False) as log:
        try:
            server, ready_s = start_server(gguf, threads, port, log)
        except RuntimeError as exc:
            raise SystemExit(_server_failed(str(exc), log.name)) from None
        try:
            result = run_child("llama.cpp", gguf, texts, threads, f"http://127.0.0.1:{port}/v1")
        finally:
            died = stop_server(server)
    if died is not None:
        raise SystemExit(_server_failed(f"llama_cpp.server died during the run ({died})", log.name))
    os.remove(log.name)
    result["load_s"] = ready_s
    result["included_s"] = ready_s + result["process_s"]
    return result


def _server_failed(what: str, log_path: str) -> str:
    with open(log_path, encoding="utf-8", errors="replace") as f:
        tail = f.read()[-2000:]
    hint = ""
    if f"({-signal.SIGILL})" in what:
        # Seen on a VM whose CPU reports AMX: a source build with -march=native ran ggml's AMX
        # kernels and died with SIGILL at the first prompt. A build without AMX runs.
        hint = ("\nSIGILL: rebuild llama-cpp-python without -march=native: CMAKE_ARGS='-DGGML_NATIVE=OFF -DGGML_AVX512=ON' "
                "pip install --force-reinstall --no-deps --no-cache-dir 'llama-cpp-python[server]'")
    return f"bench_servers: {what}; its log is {log_path}:\n{tail}{hint}"


def machine() -> str:
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
        name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name")), "unknown CPU")
    except (OSError, subprocess.CalledProcessError):
        name = "unknown CPU (no lscpu)"
    return f"{name}, {os.cpu_count()} CPUs"


def versions() -> str:
    code = ("import llama_cpp, torch, transformers; "
            "print(f'llama-cpp-python {llama_cpp.__version__} ({llama_cpp.llama_print_system_info().decode().strip()}); "
            "torch {torch.__version__}; transformers {transformers.__version__}')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return done.stdout.strip() or done.stderr.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen25", help="qwen25 (default), smollm2, or a .gguf file")
    parser.add_argument("--texts", type=int, default=10, help="alt texts per run (default: 10)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of in-process then server (default: 2)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads on each side: torch's in process, --n_threads on the server (default: every CPU)")
    parser.add_argument("--llms", default=os.environ.get("ALTTEXT_REAL_LLMS") or os.path.join(REPO, ".real-llms"),
                        help="folder of real-llms.sh's GGUF files (default: .real-llms)")
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--gguf", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    gguf = args.model if args.model.endswith(".gguf") else os.path.join(args.llms, MODELS[args.model])
    if not os.path.isfile(gguf):
        which = {v: k for k, v in MODELS.items()}.get(os.path.basename(gguf), "all")
        raise SystemExit(f"bench_servers: {gguf} not found: ../shared/tools/real-llms.sh {args.llms} {which}")
    _captions(args.texts)  # fail now, not after the first run
    print(f"writer {os.path.basename(gguf)}, {args.texts} alt texts a run, rounds: {args.rounds}, threads: {args.threads}; "
          f"machine: {machine()}", flush=True)
    print(versions(), flush=True)

    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    print(f"\n{'run':<14} {'load s':>8} {'write s':>8} {'included s':>11} {'calls':>6} {'chars':>6} {'texts':>6}")
    for r in range(1, args.rounds + 1):
        for side in SIDES:
            if side == "in-process":
                result = run_child(side, gguf, args.texts, args.threads, "")
                result["included_s"] = result["process_s"]
            else:
                result = run_server_side(gguf, args.texts, args.threads)
            runs[side].append(result)
            print(f"{side + ' ' + str(r):<14} {result['load_s']:>8.2f} {result['write_s']:>8.2f} {result['included_s']:>11.2f} "
                  f"{result['calls']:>6} {result['chars']:>6} {result['texts']:>6}", flush=True)

    print(f"\nmedians of {args.rounds} runs each (server / in-process: above 1, in process is faster)")
    for key, label in (("write_s", "load excluded"), ("included_s", "load included")):
        a = statistics.median(x[key] for x in runs["in-process"])
        b = statistics.median(x[key] for x in runs["llama.cpp"])
        print(f"  {label}: in-process {a:.2f} s, llama.cpp {b:.2f} s, ratio {b / a:.2f}")
    for side in SIDES:
        calls = sum(x["calls"] for x in runs[side])
        write = sum(x["write_s"] for x in runs[side])
        print(f"  {side}: {write / calls:.2f} s per writer call ({calls} calls, retries included), "
              f"{sum(x['chars'] for x in runs[side]) / calls:.0f} characters per answer")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
