"""serve.py: a prediction server for a saved model, behind the HTTP API clients already speak.

    python serve.py --model RUN_DIR/model            # http://127.0.0.1:8080, int8 on a CPU where it can
    curl -s localhost:8080 -H 'Content-Type: application/json' -d '{"inputs": "정말 재미있어요"}'

POST / takes the Hugging Face inference API's body (huggingface_hub's InferenceClient works unchanged), POST /predict
text-embeddings-inference's. Concurrent requests are batched together; GET /health, /info, /metrics (Prometheus)
and /docs (the schema) tell the rest. Ctrl-C or SIGTERM: it stops accepting, answers what is in flight, exits 0.
--ray runs the same application as a Ray Serve deployment (the `ray` extra), on this machine or a Ray cluster.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from koelectra_cookbook.commands.shell import ArgumentParser, exit_status, path_argument, quiet_libraries
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.serving.settings import ServerSettings


def arguments() -> ArgumentParser:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = ServerSettings(model="")
    add = parser.add_argument
    add("--model", type=path_argument, required=True, help="a saved model directory (RUN_DIR/model)")
    add("--host", type=path_argument, default=defaults.host,
        help="the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every network)")
    add("--port", type=int, default=defaults.port, help="the port (default 8080; 0: any free one, printed)")
    add("--precision", choices=["auto", "int8", "full"], default="auto",
        help="int8: ONNX Runtime's int8 model (CPU); full: PyTorch; auto (default): int8 on a machine without a "
             "GPU when the int8 extra is installed, else full")
    add("--workers", type=int, default=defaults.workers, help="server processes on this machine, each with its "
                                                              "own copy of the model (default 1)")
    add("--max-batch-tokens", type=int, default=defaults.max_batch_tokens,
        help=f"a batch closes at this many tokens (default {defaults.max_batch_tokens})")
    add("--max-batch-requests", type=int, default=defaults.max_batch_requests,
        help=f"... or this many requests (default {defaults.max_batch_requests}; 1: no batching)")
    add("--max-wait-ms", type=float, default=defaults.max_wait_ms,
        help=f"... or this long after its first request (default {defaults.max_wait_ms:g})")
    add("--max-concurrent-requests", type=int, default=defaults.max_concurrent_requests,
        help=f"more requests in flight are answered 429 (default {defaults.max_concurrent_requests})")
    add("--max-client-batch-size", type=int, default=defaults.max_client_batch_size,
        help=f"most texts in one request (default {defaults.max_client_batch_size})")
    add("--payload-limit", type=int, default=defaults.payload_limit,
        help=f"largest request body in bytes (default {defaults.payload_limit})")
    add("--request-timeout", type=float, default=defaults.request_timeout_s,
        help=f"seconds a request may take before it is answered 504 (default {defaults.request_timeout_s:g})")
    add("--batch-size", type=int, help="rows per model call inside a batch (default: predict.py's)")
    add("--api-key-env", help="the environment variable holding the API key clients must send as "
                              "'Authorization: Bearer KEY' (default: no key)")
    add("--api-key-file", type=path_argument, help="... or a file holding it")
    add("--no-access-log", action="store_true", help="leave out the one line per request")
    add("--ray", action="store_true", help="run as a Ray Serve deployment (joins the Ray cluster RAY_ADDRESS "
                                           "names, else starts one on this machine)")
    add("--replicas", type=int, default=1, help="--ray: copies of the model (default 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = arguments()
    quiet_libraries()
    url = [None]

    def serve() -> None:
        args = parser.parse_args(argv)
        missing = [name for name in ["fastapi", "uvicorn", "prometheus_client", *(["ray"] if args.ray else [])]
                   if importlib.util.find_spec(name) is None]
        if missing:
            extra = "ray" if args.ray else "serve"
            raise UserError(f"serve.py needs {', '.join(missing)}: pip install -e '.[{extra}]'")
        if args.api_key_env is not None and args.api_key_file is not None:
            raise UserError("give --api-key-env or --api-key-file, not both")
        if args.ray and args.workers != 1:
            raise UserError("--workers is for the server on this machine; with --ray, give --replicas")
        settings = ServerSettings(
            model=args.model, quantize=quantization(args.precision), host=args.host, port=args.port,
            workers=args.workers, max_batch_tokens=args.max_batch_tokens, max_batch_requests=args.max_batch_requests,
            max_wait_ms=args.max_wait_ms, max_concurrent_requests=args.max_concurrent_requests,
            max_client_batch_size=args.max_client_batch_size, payload_limit=args.payload_limit,
            request_timeout_s=args.request_timeout, batch_size=args.batch_size, api_key_env=args.api_key_env,
            api_key_file=args.api_key_file, log_requests=not args.no_access_log).check()
        if args.ray:
            from koelectra_cookbook.serving.ray_deployment import serve_on_ray

            if args.replicas < 1:
                raise UserError("--replicas must be at least 1")
            return serve_on_ray(settings, args.replicas, url)
        if args.replicas != 1:
            raise UserError("--replicas is for --ray; --workers runs several processes on this machine")
        from koelectra_cookbook.inference.predictor import Predictor

        # The model is read and checked here, before a port is taken: a bad folder is one error line. With
        # several workers this also builds the int8 model once, before they start.
        predictor = Predictor(Path(settings.model), settings.batch_size, quantize=settings.quantize)
        if settings.workers > 1:
            predictor = None  # each worker loads its own copy (serving/workers.py)
        listening = listen(settings.host, settings.port)
        host, port = listening.getsockname()[:2]
        url[0] = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        print(f"serving {settings.model} ({'int8' if settings.quantize else 'full precision'}) at {url[0]} "
              f"(GET /health says when it is ready; Ctrl-C stops it)", flush=True)
        run_uvicorn(settings, predictor, listening)
        print(f"stopped serving at {url[0]}", file=sys.stderr)  # several workers: each finished what it had

    def interrupted() -> str:
        return f"stopped serving at {url[0]}" if url[0] else "interrupted before the server started"

    status = exit_status(serve, interrupted)
    return 0 if status == 130 and url[0] else status  # a stop asked for after the start is the normal end


def quantization(precision: str) -> str | None:
    """--precision auto: int8 where it is the fast choice (a CPU-only machine) and can run (the int8 extra)."""
    if precision != "auto":
        return "int8" if precision == "int8" else None
    from koelectra_cookbook.inference.processes import Processes

    installed = all(importlib.util.find_spec(name) for name in ["onnxruntime", "onnx", "onnxscript"])
    if not installed:
        print("note: full precision (the int8 extra is not installed: pip install -e '.[int8]')", file=sys.stderr)
        return None
    return None if Processes().may_use_a_gpu() else "int8"


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a busy port or a wrong address is one error line."""
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        listening = socket.socket(info[0], socket.SOCK_STREAM)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(info[4])
    except OSError as exc:
        raise UserError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})") from None
    listening.set_inheritable(True)
    return listening


def run_uvicorn(settings: ServerSettings, predictor, listening: socket.socket) -> None:
    import uvicorn

    options = dict(log_level="warning", access_log=False, timeout_graceful_shutdown=settings.request_timeout_s + 5,
                   limit_concurrency=None, server_header=False)
    if settings.workers == 1:
        from koelectra_cookbook.serving.api import build_app

        app = build_app(settings, predictor)

        class DrainingServer(uvicorn.Server):
            def handle_exit(self, sig, frame):  # SIGTERM or Ctrl-C: in-flight requests stop waiting for company
                app.state.service.batcher.drain()
                super().handle_exit(sig, frame)

        DrainingServer(uvicorn.Config(app, **options)).run(sockets=[listening])
        return
    from uvicorn.supervisors import Multiprocess

    settings.to_environment()
    # prometheus-client adds up the workers' metrics through files in one folder (serving/metrics.py)
    counts = tempfile.mkdtemp(prefix="koelectra-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = counts
    config = uvicorn.Config("koelectra_cookbook.serving.workers:app", factory=True, workers=settings.workers,
                            **options)
    try:
        Multiprocess(config, sockets=[listening]).run()
    finally:
        shutil.rmtree(counts, ignore_errors=True)
