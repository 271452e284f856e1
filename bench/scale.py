"""The Modal scale model: wall time and cost of N images through the S3 trigger and through `--executor modal`.

    python bench/scale.py [FOLDER] [--images 8] [--count 10000] [--max-containers 50] [--name scale]

1. Measures here, through the orchestrator's call seam with every stage in-process (``pipeline.remote.handle``, the
   code each Modal container runs): per-stage CPU time, the orchestrator's own time, and the bytes serialised per job
   (modal's own serializer) in three wire modes: ``before`` (PNG bytes, nothing remembered: what every call sent
   before images crossed once), ``bytes`` (each image encoded once, the same bytes resent) and ``store`` (each image
   stored once on the runs Volume, references sent).
2. Predicts, from those measurements and the stated estimates below (INPUTS: every one with its source and whether
   it is measured, a list price or an estimate), the wall time and cost of ``--count`` images at ``--max-containers``.
3. Checks the queueing part of the model against the same orchestration run here: ``--images`` photos through
   ``run_job``'s code with 1 and 2 worker processes (each a container running its stage calls in-process), measured
   against the model's prediction for 1 and 2 containers with no network.

Writes bench/results/<name>.json and .md (and .png when matplotlib is installed).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import default_folder, load_cases, machine, markdown_table, write_json  # noqa: E402

CPU_STAGES = ("normalize", "analyze", "segment", "compose", "upscale")

# Every input of the model that is not measured here. kind: "list price" (published, may change), "limit"
# (a documented limit or this app's own setting), "estimate" (not measured: no Modal account or GPU here).
INPUTS = {
    "h100_usd_per_s": (0.001097, "list price", "Modal H100 $3.9492/h, as quoted by techbytes.app 'Serverless GPU "
                       "Pricing Matrix' (verified 2026-05-07 against modal.com/pricing); check modal.com/pricing"),
    "l4_usd_per_s": (0.000222, "list price", "Modal L4 $0.7992/h, same source"),
    "cpu_usd_per_core_s": (0.0000131, "list price", "Modal physical core-second, beam.cloud 'Modal Pricing "
                           "Explained (2026)' citing modal.com/pricing (2026-06-27)"),
    "mem_usd_per_gib_s": (0.00000222, "list price", "Modal GiB-second of memory, same source"),
    "billing_rule": ("max(request, usage)", "documented", "modal.com/docs/guide/resources: default request 0.125 "
                     "core and 128 MiB; billed on the higher of request and use"),
    "workspace_containers": (100, "limit", "concurrent containers on Modal's Starter plan, as listed by "
                             "api-evangelist/modal-labs rate-limits (unverified; check the workspace dashboard)"),
    "workspace_gpus": (10, "limit", "concurrent GPUs on the Starter plan, same source"),
    "sqs_batch": (10, "limit", "SQS ReceiveMessage returns at most 10 messages per call (MaxNumberOfMessages)"),
    "poll_period_s": (60, "limit", "s3_poll is scheduled every minute (functions/triggers.py)"),
    "stage_cpu_request": (2.0, "limit", "cpu=2.0, memory=2048 MiB per CPU stage function (functions/cpu.py)"),
    "stage_mem_gib": (2.0, "limit", "same"),
    "stage_scaledown_s": (120, "limit", "scaledown_window of the CPU stage functions (functions/cpu.py)"),
    "gpu_scaledown_s": (300, "limit", "scaledown_window of the GPU classes (functions/gpu.py)"),
    "call_overhead_s": (0.10, "estimate", "round trip of one .remote() call to a warm container, not measured"),
    "volume_sync_s": (0.20, "estimate", "one runs Volume commit + reload between a writer and a reader, not measured"),
    "container_bandwidth_Bps": (100e6, "estimate", "payload transfer into or out of a container, not measured"),
    "laptop_uplink_Bps": (10e6, "estimate", "the caller's upload for --executor modal (inputs sent from a laptop)"),
    "cpu_cold_start_s": (3.0, "estimate", "first container of the slim CPU image, not measured"),
    "flux_cold_start_s": (60.0, "estimate", "H100 container: ~34 GB of bf16 weights from the Volume (memory snapshot "
                          "after the first), not measured"),
    "flux_s_per_image": (8.0, "estimate", "Flux Fill, 1024 px, 28 steps on an H100 (bench/gpu.py measures it)"),
    "realesrgan_s_per_image": (2.0, "estimate", "Real-ESRGAN x4 tiled on an L4, not measured"),
}


def V(name):  # noqa: N802
    return INPUTS[name][0]


# ---------------------------------------------------------------------------------------------------------------
# 1. measurements through the call seam
class _CountingCv2:
    """cv2 as pipeline.wire sees it, counting PNG encodings (both sides of every call)."""

    def __init__(self, cv2):
        self._cv2, self.encodes, self.encode_s = cv2, 0, 0.0

    def imencode(self, *a, **kw):
        t0 = time.perf_counter()
        out = self._cv2.imencode(*a, **kw)
        self.encodes += 1
        self.encode_s += time.perf_counter() - t0
        return out

    def __getattr__(self, name):
        return getattr(self._cv2, name)


def _counting_blobs(wire, counts: dict):
    class CountingBlobs(wire.FolderBlobs):
        """The runs Volume's traffic: bytes written (new files only) and read."""

        def put(self, data: bytes) -> str:
            dirty, self._dirty = self._dirty, False
            key = super().put(data)
            if self._dirty:  # a new file
                counts["written"] = counts.get("written", 0) + len(data)
            self._dirty = dirty or self._dirty
            return key

        def get(self, key: str) -> bytes:
            data = super().get(key)
            counts["read"] = counts.get("read", 0) + len(data)
            return data

    return CountingBlobs


def _serialized(value) -> int:
    try:
        from modal._serialization import serialize
    except ImportError:  # modal missing: pickle, which modal's serializer (cloudpickle) matches for plain data
        import pickle

        return len(pickle.dumps(value, protocol=4))
    return len(serialize(value))


def measure(paths: list[Path], mode: str, size: int) -> list[dict]:
    """Per job: container seconds per stage, orchestrator seconds, bytes sent and returned, PNG encodings."""
    from pipeline import wire
    from pipeline.contract import process
    from pipeline.remote import ExecutorCache, RemoteExecutor, handle, portable_settings
    from pipeline.runner import Job, RunOptions
    from pipeline.settings import Settings

    counter = _CountingCv2(wire.cv2)
    wire.cv2 = counter
    volume: dict = {}
    Blobs = _counting_blobs(wire, volume)  # noqa: N806
    executors = ExecutorCache()
    settings = Settings(output_size=size)
    jobs = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i, path in enumerate([paths[0], *paths]):  # the first run warms caches and JIT, not recorded
                calls = []
                store = Blobs(Path(tmp) / "wire", f"{i:08x}") if mode == "store" else None
                volume.clear()

                def call(target, payload, calls=calls):
                    kind, stage = target.split(".", 1)
                    sent = _serialized(payload)
                    t0, c0 = time.perf_counter(), time.process_time()
                    blobs = None if payload.get("blobs") is None else Blobs(Path(tmp) / "wire", payload["blobs"])
                    answer = handle(stage, payload, executors.get(payload["settings"]), blobs)
                    calls.append({"stage": stage, "s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                                  "sent": sent, "returned": _serialized(answer)})
                    return answer

                ex = RemoteExecutor(settings, call, store)
                if mode == "before":
                    ex.codec = wire.Codec(None, max_bytes=0)
                counter.encodes, counter.encode_s = 0, 0.0
                t0, c0 = time.perf_counter(), time.process_time()
                m = process(Job(source=path.read_bytes(), name=f"img{i}", options=RunOptions(size=size)),
                            _Storage(Path(tmp) / "runs"), ex)
                total, cpu = time.perf_counter() - t0, time.process_time() - c0
                if store is not None:
                    store.remove()
                assert portable_settings(settings) == ex.carried
                if i == 0:
                    continue
                stages, stages_cpu = {}, {}
                for c in calls:
                    stages[c["stage"]] = stages.get(c["stage"], 0.0) + c["s"]
                    stages_cpu[c["stage"]] = stages_cpu.get(c["stage"], 0.0) + c["cpu_s"]
                jobs.append({"image": path.name, "status": m["status"], "input_bytes": path.stat().st_size,
                             "total_s": total, "cpu_s": cpu, "stages_s": stages, "stages_cpu_s": stages_cpu,
                             "orchestrator_cpu_s": cpu - sum(stages_cpu.values()),
                             "calls": len(calls), "sent_bytes": sum(c["sent"] for c in calls),
                             "returned_bytes": sum(c["returned"] for c in calls),
                             "png_encodes": counter.encodes, "png_encode_s": counter.encode_s,
                             "volume_written_bytes": volume.get("written", 0), "volume_read_bytes": volume.get("read", 0)})
    finally:
        wire.cv2 = counter._cv2
    return jobs


def _Storage(root):  # noqa: N802
    from pipeline.storage import LocalStorage

    return LocalStorage(root)


def _median(jobs: list[dict], key: str) -> float:
    return statistics.median(j[key] for j in jobs)


# ---------------------------------------------------------------------------------------------------------------
# 2. the model
def per_image(measured: dict, gpu: bool) -> dict:
    """Seconds and dollars of one image through run_job on Modal (warm containers)."""
    stages = dict(measured["stages_cpu_s"])  # CPU seconds: what a container of its own would take, and what is billed
    calls = len(CPU_STAGES)
    gpu_s = {}
    if gpu:  # compose on the H100, post-production on the L4; the other stages stay on the CPU functions
        stages.pop("compose", None)
        stages.pop("upscale", None)
        gpu_s = {"flux": V("flux_s_per_image"), "realesrgan": V("realesrgan_s_per_image")}
    transfer = (measured["sent_bytes"] + measured["returned_bytes"]) / V("container_bandwidth_Bps")
    sync = calls * V("volume_sync_s") if measured["mode"] == "store" else 0.0
    latency = (measured["orchestrator_cpu_s"] + sum(stages.values()) + sum(gpu_s.values()) + calls * V("call_overhead_s")
               + transfer + sync)
    core_s = max(V("stage_cpu_request"), 1.0) * sum(stages.values())  # billed on the request (2 cores)
    usd = (core_s * V("cpu_usd_per_core_s") + V("stage_mem_gib") * sum(stages.values()) * V("mem_usd_per_gib_s")
           + latency * (0.125 * V("cpu_usd_per_core_s") + 0.125 * V("mem_usd_per_gib_s"))  # run_job, default request
           + gpu_s.get("flux", 0.0) * V("h100_usd_per_s") + gpu_s.get("realesrgan", 0.0) * V("l4_usd_per_s"))
    return {"latency_s": latency, "usd": usd, "gpu_s": gpu_s}


def batch(count: int, max_containers: int, measured: dict, gpu: bool, trigger: str) -> dict:
    """Wall time and cost of ``count`` images. Each run_job holds one image and at most one stage call in flight,
    so C run_jobs need up to 2C containers; the GPU classes need one GPU per image in flight."""
    one = per_image(measured, gpu)
    concurrency = min(max_containers, V("workspace_containers") // 2)
    if gpu:
        concurrency = min(concurrency, V("workspace_gpus"))
    throughput = concurrency / one["latency_s"]
    cold = V("flux_cold_start_s") if gpu else V("cpu_cold_start_s")
    limits = {"containers": throughput}
    if trigger == "s3":
        wait = V("poll_period_s") / 2  # the first poll after the upload, on average
        limits["sqs_receive"] = V("sqs_batch") / V("call_overhead_s")
    else:
        wait = 0.0
        limits["upload"] = V("laptop_uplink_Bps") / measured["input_bytes"]
    rate = min(limits.values())
    wall = wait + cold + count / rate
    idle = concurrency * (V("gpu_scaledown_s") * (V("h100_usd_per_s") + V("l4_usd_per_s")) if gpu else
                          len(CPU_STAGES) * V("stage_scaledown_s") * V("stage_cpu_request") * V("cpu_usd_per_core_s"))
    return {"trigger": trigger, "gpu": gpu, "wire": measured["mode"], "count": count, "max_containers": max_containers,
            "concurrency": concurrency, "per_image_latency_s": round(one["latency_s"], 3),
            "images_per_s": round(rate, 3), "bound_by": min(limits, key=limits.get), "wall_s": round(wall, 1),
            "usd": round(count * one["usd"] + idle, 2), "usd_per_1000": round(1000 * one["usd"], 3)}


# ---------------------------------------------------------------------------------------------------------------
# 3. the check: the same orchestration with 1 and 2 workers
def _worker(args) -> tuple[float, float, float]:
    """One 'container': its images through run_job's code. Returns (wall seconds of the recorded jobs, their CPU
    seconds, wall seconds with the process start-up and the warm-up image)."""
    paths, size = args
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(1)
    jobs = measure([Path(p) for p in paths], "store", size)
    return sum(j["total_s"] for j in jobs), sum(j["cpu_s"] for j in jobs), time.perf_counter() - t0


def check(paths: list[Path], size: int, cpu_per_image: float) -> list[dict]:
    """Model: W containers with a core each, each taking the next image, finish n images in ceil(n / W) x the CPU
    seconds of one image (no network, warm). Measured: the busiest worker's job time here (its start-up and warm-up
    image are in wall_s), with the load average: other processes on this machine take cores from the workers."""
    import os

    rows = []
    for workers in (1, 2):
        chunks = [[str(p) for p in paths[i::workers]] for i in range(workers)]
        load0 = os.getloadavg()[0]
        with mp.get_context("spawn").Pool(workers) as pool:
            results = pool.map(_worker, [(c, size) for c in chunks])
        busy = max(r[0] for r in results)
        predicted = max(len(c) for c in chunks) * cpu_per_image
        busy_cpu = max(r[1] for r in results)
        rows.append({"workers": workers, "images": len(paths), "wall_s": round(max(r[2] for r in results), 2),
                     "busy_s": round(busy, 2), "busy_cpu_s": round(busy_cpu, 2),
                     "predicted_s": round(predicted, 2), "measured_over_predicted": round(busy / predicted, 3),
                     "cpu_over_predicted": round(busy_cpu / predicted, 3),
                     "load_avg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)]})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", type=Path, default=default_folder())
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--size", type=int, default=1024, help="output long side")
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--max-containers", type=int, default=50, help="run_job's max_containers")
    ap.add_argument("--name", default="scale")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    paths = [c.path for c in load_cases(args.folder)][: args.images]

    modes = {}
    for mode in ("before", "bytes", "store"):
        jobs = measure(paths, mode, args.size)
        assert all(j["status"] == "ok" for j in jobs), [j for j in jobs if j["status"] != "ok"]
        modes[mode] = {
            "mode": mode, "jobs": jobs,
            "stages_s": {s: statistics.median(j["stages_s"].get(s, 0.0) for j in jobs) for s in CPU_STAGES},
            "stages_cpu_s": {s: statistics.median(j["stages_cpu_s"].get(s, 0.0) for j in jobs) for s in CPU_STAGES},
            "orchestrator_cpu_s": _median(jobs, "orchestrator_cpu_s"), "total_s": _median(jobs, "total_s"),
            "cpu_s": _median(jobs, "cpu_s"),
            "sent_bytes": _median(jobs, "sent_bytes"), "returned_bytes": _median(jobs, "returned_bytes"),
            "png_encodes": _median(jobs, "png_encodes"), "png_encode_s": _median(jobs, "png_encode_s"),
            "volume_written_bytes": _median(jobs, "volume_written_bytes"),
            "volume_read_bytes": _median(jobs, "volume_read_bytes"),
            "input_bytes": _median(jobs, "input_bytes"),
        }
    chosen = modes["store"]
    scenarios = [batch(args.count, c, chosen, gpu, trigger) for trigger in ("s3", "executor-modal")
                 for gpu in (False, True) for c in sorted({1, 10, args.max_containers})]
    scenarios += [batch(args.count, args.max_containers, modes["bytes"], False, "s3")]  # the Volume's trade-off
    checks = check(paths, args.size, chosen["cpu_s"])

    data = {"machine": machine(), "folder": str(args.folder), "images": len(paths), "size": args.size,
            "inputs": {k: {"value": v, "kind": kind, "source": src} for k, (v, kind, src) in INPUTS.items()},
            "modes": modes, "scenarios": scenarios, "check": checks}
    write_json(args.name, data)
    md = [f"# Modal scale model ({data['machine']['when']}, {len(paths)} images from {args.folder.name}, "
          f"{args.size} px)", "", "## Bytes serialised per job (median, modal's serializer) and PNG encodings", "",
          markdown_table(["wire mode", "sent bytes", "returned bytes", "Volume written", "Volume read", "PNG encodes",
                          "encode s", "job CPU s"],
                         [[m, int(d["sent_bytes"]), int(d["returned_bytes"]), int(d["volume_written_bytes"]),
                           int(d["volume_read_bytes"]), int(d["png_encodes"]), round(d["png_encode_s"], 3),
                           round(d["cpu_s"], 3)] for m, d in modes.items()]),
          "", "## Measured per-stage CPU seconds (median, store mode, 1 thread)", "",
          markdown_table(["stage", "CPU s", "wall s"],
                         [[s, round(chosen["stages_cpu_s"][s], 3), round(chosen["stages_s"][s], 3)]
                          for s in CPU_STAGES] + [["orchestrator", round(chosen["orchestrator_cpu_s"], 3), "-"]]),
          "", f"## {args.count} images: predicted wall time and cost", "",
          markdown_table(["trigger", "backends", "wire", "max_containers", "concurrency", "latency s", "images/s",
                          "bound by", "wall", "USD", "USD/1000"],
                         [[s["trigger"], "flux+realesrgan (GPU)" if s["gpu"] else "embedded (CPU)", s["wire"],
                           s["max_containers"], s["concurrency"], s["per_image_latency_s"], s["images_per_s"],
                           s["bound_by"], _duration(s["wall_s"]), s["usd"], s["usd_per_1000"]] for s in scenarios]),
          "", "## Check: the same orchestration here, in-process call seam", "",
          markdown_table(["workers", "images", "busy s", "busy CPU s", "predicted s", "busy/predicted",
                          "CPU/predicted", "wall s (with start-up)", "load avg before, after"],
                         [[c["workers"], c["images"], c["busy_s"], c["busy_cpu_s"], c["predicted_s"],
                           c["measured_over_predicted"], c["cpu_over_predicted"], c["wall_s"], c["load_avg_1min"]]
                          for c in checks]),
          "", "busy: the busiest worker's seconds over its images (start-up and warm-up image excluded); predicted: "
          "ceil(images / workers) x the CPU seconds of one image. Where the load average is above the core count, "
          "other processes share the cores and busy exceeds the prediction while CPU seconds still split as modelled.",
          "", "## Inputs", "",
          markdown_table(["input", "value", "kind", "source"],
                         [[k, f"{v:g}" if isinstance(v, float) else v, kind, src]
                          for k, (v, kind, src) in INPUTS.items()])]
    path = write_json(args.name, data).with_suffix(".md")
    path.write_text("\n".join(md) + "\n")
    print("\n".join(md))
    try:
        _plot(args.name, args.count, chosen)
    except ImportError:
        print("(no plot: matplotlib is not installed; pip install 'bgflow[bench]')")


def _duration(s: float) -> str:
    return f"{s / 3600:.2f} h" if s >= 3600 else f"{s / 60:.1f} min" if s >= 120 else f"{s:.0f} s"


def _plot(name: str, count: int, measured: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.common import RESULTS

    cs = [1, 2, 5, 10, 20, 50, 100, 200]
    fig, ax = plt.subplots(figsize=(7, 4))
    for gpu in (False, True):
        ax.plot(cs, [batch(count, c, measured, gpu, "s3")["wall_s"] / 60 for c in cs], "o-",
                label="GPU backends" if gpu else "embedded (CPU)")
    ax.set(xscale="log", yscale="log", xlabel="run_job max_containers", ylabel=f"minutes for {count} images",
           title="S3 trigger, predicted")
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=110)


if __name__ == "__main__":
    main()
