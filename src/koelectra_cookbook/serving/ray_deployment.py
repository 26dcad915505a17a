"""The prediction server as a Ray Serve deployment: the same application (api.py) on every replica, its batches
made by Ray's own `@serve.batch` instead of our batcher, replicas on one machine or across a Ray cluster.

    python serve.py --model RUN_DIR/model --ray --replicas 2          # a Ray started on this machine
    RAY_ADDRESS=auto python serve.py --model RUN_DIR/model --ray     # a running cluster (`ray start --head`)
    serve run koelectra_cookbook.serving.ray_deployment:app_builder model=/models/nsmc replicas=4

Ray is an optional extra (`pip install -e ".[ray]"`); nothing else in the project imports it."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from koelectra_cookbook.errors import UserError
from koelectra_cookbook.inference.encoded import Encoded
from koelectra_cookbook.serving.settings import ServerSettings


class Replica:
    """One copy of the model. Ray builds the application on the replica (`__serve_build_asgi_app__`), after
    the constructor, so the model is loaded where it runs and never pickled."""

    def __init__(self, settings: dict):
        self.settings = ServerSettings(**settings)

    def __serve_build_asgi_app__(self):
        from ray import serve

        from koelectra_cookbook.inference.predictor import Predictor
        from koelectra_cookbook.serving.api import batch_logits, build_app

        settings = self.settings
        predictor = Predictor(Path(settings.model), settings.batch_size, quantize=settings.quantize)
        inference = ThreadPoolExecutor(1, thread_name_prefix="inference")

        @serve.batch(max_batch_size=settings.max_batch_requests, batch_wait_timeout_s=settings.max_wait_ms / 1000)
        async def batches(parts: list[Encoded]):
            return await asyncio.get_running_loop().run_in_executor(inference, batch_logits, predictor, parts)

        return build_app(settings, predictor, batches)


def application(settings: ServerSettings, replicas: int):
    """The Ray Serve application: `replicas` copies, each taking up to --max-concurrent-requests at once."""
    from ray import serve

    deployment = serve.deployment(serve.ingress()(Replica), name="koelectra-classifier", num_replicas=replicas,
                                  max_ongoing_requests=settings.max_concurrent_requests,
                                  graceful_shutdown_timeout_s=settings.request_timeout_s + 5)
    return deployment.bind(dataclasses.asdict(settings))


def app_builder(arguments: dict):
    """For `serve run koelectra_cookbook.serving.ray_deployment:app_builder model=DIR [replicas=N] [key=value
    ...]`: any ServerSettings field as a key (a Serve config file's `args` likewise)."""
    settings, replicas = settings_of(arguments)
    return application(settings, replicas)


def settings_of(arguments: dict) -> tuple[ServerSettings, int]:
    """ServerSettings and the replica count from `serve run`'s key=value arguments (strings) or a config's args."""
    arguments = dict(arguments)
    replicas = int(arguments.pop("replicas", 1))
    kinds = {field.name: str(field.type) for field in dataclasses.fields(ServerSettings)}
    unknown = sorted(set(arguments) - set(kinds))
    if unknown:
        raise ValueError(f"unknown settings {unknown}; known: replicas, {', '.join(sorted(kinds))}")

    def typed(name: str, value):
        if not isinstance(value, str):  # a config file's args keep their YAML types
            return value
        if value.lower() in ("none", "null") and "None" in kinds[name]:
            return None
        if kinds[name].startswith("bool"):
            if value.lower() not in ("true", "false"):
                raise ValueError(f"{name}={value}: true or false")
            return value.lower() == "true"
        return int(value) if kinds[name].startswith("int") else float(value) if kinds[name].startswith(
            "float") else value

    return ServerSettings(**{name: typed(name, value) for name, value in arguments.items()}).check(), replicas


def stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def serve_on_ray(settings: ServerSettings, replicas: int, url: list) -> None:
    """serve.py --ray: deploy on the Ray cluster RAY_ADDRESS names (else a local one) and wait for Ctrl-C or
    SIGTERM, then shut the deployment down: Serve lets each replica finish what is in flight first."""
    try:
        import ray
        from ray import serve
    except ImportError:
        raise UserError("--ray needs Ray Serve: pip install -e '.[ray]'") from None
    from koelectra_cookbook.inference.predictor import Predictor

    settings = dataclasses.replace(settings, model=str(Path(settings.model).resolve()))  # replicas run elsewhere
    Predictor(Path(settings.model), settings.batch_size, quantize=settings.quantize)  # a bad folder: one line
    ray.init(logging_level="ERROR", log_to_driver=False, include_dashboard=False)
    # Ray's own SIGTERM handler prints a stack and aborts the process (exit -6); SIGTERM stops the server instead.
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        serve.start(http_options={"host": settings.host, "port": settings.port})
        serve.run(application(settings, replicas), name="koelectra", route_prefix="/")
        url[0] = f"http://{settings.host}:{settings.port}"
        print(f"serving {settings.model} on Ray Serve ({replicas} replica{'s' if replicas > 1 else ''}) at "
              f"{url[0]} (GET /health says when it is ready; Ctrl-C stops it)", flush=True)
        while True:
            time.sleep(1)
    finally:
        print("stopping the Ray Serve deployment (replicas finish what is in flight)", file=sys.stderr, flush=True)
        serve.shutdown()
        ray.shutdown()
