"""The prediction server under load, side by side with the limits it is measured against, in one run.

    python bench/serving.py --data $NSMC/ratings_test.txt --vocab $VOCAB                # everything (~20 min, 2 CPUs)
    python bench/serving.py --data ... --vocab ... --shapes tiny --precisions int8 --seconds 4   # a quick look

What runs (models: from-scratch ELECTRAs of bench/common.py's shapes with KoELECTRA's vocabulary, random weights:
speed only; the answers are compared with predict.py's instead of an accuracy):
- offline: the Predictor predict.py uses, on the request text repeated, in one call: the limit a server approaches;
- closed loop: `hey` (a real load generator) for --seconds at each concurrency, against serve.py with batching on and
  off (--max-batch-requests 1): requests/s, p50/p90/p99, errors, the mean batch from /metrics, memory, start-to-ready;
- open loop: requests sent at a fixed rate whatever the answers (latency from the intended send time, so a stalled
  server is not hidden by a stalled client): at 80% of the measured capacity, at twice it (429 share), and SIGTERM
  in the middle of a run at 80% (failures among requests the server had accepted);
- the Gradio page's API (gradio_client, two HTTP calls a prediction) and the Ray Serve deployment at concurrency 16.

Prints a markdown section for docs/benchmarks.md and writes bench/out/serving.json. The load generator runs on the
same cores as the server (loopback): on 2 cores it takes a share of the CPU the server would otherwise have."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT_DIR, ROOT  # noqa: E402
from predict_speed import base_classifier, read_test_file  # noqa: E402

CONCURRENCY = [1, 4, 16, 64]


class Server:
    """serve.py (or app.py) in its own process, ready when it says so."""

    def __init__(self, script: str, model: Path, *options: str, ready_line: str = "ready:"):
        self.started = time.perf_counter()
        self.process = subprocess.Popen([sys.executable, str(ROOT / script), "--model", str(model), *options],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith("serving ") and " at " in line:
                self.url = re.search(r"http://[\d.:]+", line).group(0)
            if line.startswith(ready_line):
                break
        else:
            sys.exit(f"{script} ended before it was ready:\n{''.join(self.lines)[-3000:]}")
        self.ready_s = time.perf_counter() - self.started
        threading.Thread(target=self.drain_output, daemon=True).start()  # the access log must not block it

    def drain_output(self) -> None:
        for line in self.process.stdout:
            if not line.startswith("127.0.0.1:"):
                self.lines.append(line)

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=120)


def hey(url: str, body: Path, concurrency: int, seconds: float) -> dict:
    """One closed-loop run of `hey`: requests/s, latency percentiles (ms), responses by status, errors."""
    done = subprocess.run(["hey", "-z", f"{seconds}s", "-c", str(concurrency), "-m", "POST", "-T",
                           "application/json", "-D", str(body), "-t", "60", url], capture_output=True, text=True)
    out = done.stdout
    percentiles = {f"p{p}": float(m) * 1000 for p, m in re.findall(r"\s(\d+)%% in ([\d.]+) secs".replace("%%", "%"),
                                                                     out)}
    statuses = {int(code): int(count) for code, count in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}
    errors = sum(int(count) for count in re.findall(r"\[(\d+)\]\s+(?:Post|Get|dial)", out))
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {"requests_per_s": float(rate.group(1)) if rate else 0.0, **{k: percentiles.get(k) for k in
            ("p50", "p90", "p99")}, "statuses": statuses, "errors": errors}


def batch_counts(url: str) -> tuple[float, float]:
    """(batches, requests batched) so far, from the server's /metrics."""
    import httpx

    text = httpx.get(url + "/metrics", timeout=30).text
    count = float(re.search(r"^koelectra_batch_requests_count (\S+)", text, re.M).group(1))
    total = float(re.search(r"^koelectra_batch_requests_sum (\S+)", text, re.M).group(1))
    return count, total


def offline(model: Path, precision: str, text: str, copies: int) -> float:
    """Texts per second of the Predictor predict.py uses, on `copies` copies of `text`, after one warm call."""
    from koelectra_cookbook.inference.predictor import Predictor

    predictor = Predictor(model, quantize="int8" if precision == "int8" else None)
    predictor.probabilities([text] * 64)
    started = time.perf_counter()
    predictor.probabilities([text] * copies)
    return copies / (time.perf_counter() - started)


async def open_loop(url: str, body: bytes, rate: float, seconds: float, stop_after: float | None = None,
                    server: Server | None = None) -> dict:
    """Requests sent at `rate` per second for `seconds`, each timed from when it was meant to go. With
    `stop_after`, the server gets SIGTERM that many seconds in; a refused connection after it is not a failure
    (the server no longer accepts), an accepted request that does not end in 200 is."""
    import httpx

    latencies, statuses, refused, failed, late = [], {}, 0, 0, 0.0
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        started = time.perf_counter()

        async def one(intended: float) -> None:
            nonlocal refused, failed
            try:
                answer = await client.post(url, content=body, headers={"Content-Type": "application/json"})
            except httpx.ConnectError:
                refused += 1
                return
            except httpx.HTTPError:
                failed += 1
                return
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            if answer.status_code == 200:
                latencies.append(time.perf_counter() - intended)

        tasks, count = [], int(rate * seconds)
        stopped = False
        for i in range(count):
            intended = started + i / rate
            delay = intended - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            late = max(late, time.perf_counter() - intended)  # how far the client itself fell behind
            if stop_after is not None and not stopped and time.perf_counter() - started >= stop_after:
                server.process.send_signal(signal.SIGTERM)
                stopped = True
            tasks.append(asyncio.ensure_future(one(intended)))
        await asyncio.gather(*tasks)
    latencies.sort()

    def percentile(p: float) -> float | None:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000 if latencies else None

    return {"rate": round(rate, 1), "sent": count, "statuses": statuses, "refused": refused, "failed": failed,
            "p50": percentile(50), "p99": percentile(99), "client_late_ms": round(late * 1000, 1)}


def page_api(model: Path, text: str, concurrency: int, seconds: float) -> dict:
    """The Gradio page's API through gradio_client (what a program calling the page does), closed loop."""
    from concurrent.futures import ThreadPoolExecutor

    import gradio_client

    page = Server("app.py", model, "--port", "7861", ready_line="serving ")
    url = re.search(r"http://[\d.:]+/?", "".join(page.lines)).group(0)
    client = gradio_client.Client(url, verbose=False)
    latencies, deadline = [], time.perf_counter() + seconds

    def worker() -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            client.predict(text, api_name="/classify")
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(worker)
    elapsed = time.perf_counter() - began
    page.process.send_signal(signal.SIGINT)
    page.process.wait(timeout=60)
    latencies.sort()
    return {"requests_per_s": len(latencies) / elapsed, "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[int(0.99 * (len(latencies) - 1))] * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="NSMC's ratings_test.txt (the request texts)")
    parser.add_argument("--vocab", type=Path, required=True, help="KoELECTRA's vocabulary")
    parser.add_argument("--shapes", default="tiny,base")
    parser.add_argument("--precisions", default="int8,full")
    parser.add_argument("--seconds", type=float, default=6.0, help="per closed-loop point")
    parser.add_argument("--skip", default="", help="comma-separated: page, ray, open_loop")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    reviews = sorted((text for text, _ in read_test_file(args.data)), key=len)
    text = reviews[len(reviews) // 2]  # a review of median length
    body = OUT_DIR / "serving-body.json"
    body.parent.mkdir(parents=True, exist_ok=True)
    body.write_text(json.dumps({"inputs": text}, ensure_ascii=False))
    results = {"text": text, "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d"), "points": [],
               "offline": {}, "servers": {}}
    for shape in args.shapes.split(","):
        model = base_classifier(args.vocab, shape)
        for precision in args.precisions.split(","):
            results["offline"][f"{shape}/{precision}"] = offline(model, precision, text, 2000 if shape == "tiny"
                                                                 else 200)
            print(f"offline {shape}/{precision}: {results['offline'][f'{shape}/{precision}']:.1f} texts/s",
                  flush=True)
            for batching in ("on", "off"):
                options = ["--port", "0", "--precision", precision, "--no-access-log",
                           *(["--max-batch-requests", "1"] if batching == "off" else [])]
                server = Server("serve.py", model, *options)
                key = f"{shape}/{precision}/batching {batching}"
                results["servers"][key] = {"ready_s": server.ready_s, "rss_mib": server.rss_mib()}
                for concurrency in CONCURRENCY:
                    before = batch_counts(server.url)
                    point = hey(server.url, body, concurrency, args.seconds)
                    after = batch_counts(server.url)
                    batches = after[0] - before[0]
                    point.update(shape=shape, precision=precision, batching=batching, concurrency=concurrency,
                                 mean_batch=(after[1] - before[1]) / batches if batches else None)
                    results["points"].append(point)
                    print(json.dumps(point), flush=True)
                results["servers"][key]["rss_mib_after"] = server.rss_mib()
                results["servers"][key]["exit_status"] = server.stop()
                print(key, json.dumps(results["servers"][key]), flush=True)
    # the open loop, the page and Ray: on the last shape (the base one by default), in the first precision; a Python
    # client cannot send a tiny model's thousand requests a second on time
    first = args.shapes.split(",")[-1] + "/" + args.precisions.split(",")[0]
    model = base_classifier(args.vocab, first.split("/")[0])
    precision = first.split("/")[1]
    capacity = max(p["requests_per_s"] for p in results["points"]
                   if f"{p['shape']}/{p['precision']}" == first and p["batching"] == "on")
    if "open_loop" not in skip:
        for name, share, extra in [("80% of capacity", 0.8, []), ("twice capacity", 2.0,
                                                                 ["--max-concurrent-requests", "32"])]:
            server = Server("serve.py", model, "--port", "0", "--precision", precision, "--no-access-log", *extra)
            results[f"open loop {name}"] = asyncio.run(open_loop(server.url, body.read_bytes(), capacity * share,
                                                                 args.seconds))
            server.stop()
            print(name, results[f"open loop {name}"], flush=True)
        server = Server("serve.py", model, "--port", "0", "--precision", precision, "--no-access-log")
        drained = asyncio.run(open_loop(server.url, body.read_bytes(), capacity * 0.8, args.seconds,
                                        stop_after=args.seconds / 2, server=server))
        drained["exit_status"] = server.process.wait(timeout=120)
        results["SIGTERM at 80% of capacity"] = drained
        print("drain", drained, flush=True)
    if "page" not in skip:
        results["page API"] = page_api(model, text, 16, args.seconds)
        print("page", results["page API"], flush=True)
    if "ray" not in skip:
        ray = Server("serve.py", model, "--ray", "--port", "8765", "--precision", precision, "--no-access-log",
                     ready_line="serving ")
        import httpx

        deadline = time.perf_counter() + 300
        while httpx.get("http://127.0.0.1:8765/health").status_code != 200:  # the warm-up answered: ready
            if time.perf_counter() > deadline or ray.process.poll() is not None:
                sys.exit("the Ray Serve deployment did not become ready within 300 s")
            time.sleep(0.2)
        ray_point = hey("http://127.0.0.1:8765", body, 16, args.seconds)
        ray_point["ready_s"] = time.perf_counter() - ray.started
        results["ray serve"] = ray_point
        ray.stop()
        print("ray", ray_point, flush=True)
    (OUT_DIR / "serving.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(render(results, first))
    return 0


def ms(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(results: dict, first: str) -> str:
    lines = [f"Measured {results['date']} on {results['cpus']} CPU cores, `python bench/serving.py` (one request = "
             f"one review of median length, {len(results['text'])} characters).", "",
             "| model | batching | concurrency | requests/s | p50 ms | p90 ms | p99 ms | errors / non-200 | mean batch "
             "| % of offline |", "|---|---|---|---|---|---|---|---|---|---|"]
    for p in results["points"]:
        offline_rate = results["offline"][f"{p['shape']}/{p['precision']}"]
        bad = p["errors"] + sum(count for code, count in p["statuses"].items() if int(code) != 200)
        lines.append(f"| {p['shape']} {p['precision']} | {p['batching']} | {p['concurrency']} | "
                     f"{p['requests_per_s']:.1f} | {ms(p['p50'])} | {ms(p['p90'])} | {ms(p['p99'])} | {bad} | "
                     f"{ms(p['mean_batch'])} | {100 * p['requests_per_s'] / offline_rate:.0f}% |")
    lines += ["", "| model | offline texts/s | server start to ready | memory (RSS) after load |", "|---|---|---|---|"]
    for key, server in results["servers"].items():
        shape_precision = "/".join(key.split("/")[:2])
        lines.append(f"| {key} | {results['offline'][shape_precision]:.1f} | {server['ready_s']:.1f} s | "
                     f"{server['rss_mib_after']:.0f} MiB |")
    for name in ("open loop 80% of capacity", "open loop twice capacity", "SIGTERM at 80% of capacity",
                 "page API", "ray serve"):
        if name in results:
            lines.append(f"\n{name} ({first}): `{json.dumps(results[name])}`")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
