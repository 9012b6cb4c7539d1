"""`tiw bench`: batch-1 latency and batched throughput of the model, end to end with the time
split, FLOPs and peak memory, with the thread count and machine load beside every figure."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from tiwcli.commands import options
from tiwcli.commands.options import parse_engine_list, parse_int_list


def _knob_values(knob: str) -> tuple[bool, ...]:
    """off -> (False,), on -> (True,), both -> (False, True): the rows to time."""
    return {"off": (False,), "on": (True,), "both": (False, True)}[knob]


def bench(
    *,
    presets: Annotated[str, typer.Option(help="Comma-separated model presets.")] = "small-256,base-256",
    sources: Annotated[str, typer.Option(help="Comma-separated numbers of source images.")] = "1,2,4,8",
    device: options.Device = "auto",
    batch_size: Annotated[
        int, typer.Option(min=1, help="Driving frames per call for the throughput figure (latency: 1).")
    ] = 8,
    frames: Annotated[int, typer.Option(min=1, help="Frames timed per model-only figure.")] = 32,
    threads: Annotated[
        options.OptionalStr,
        typer.Option(help="Comma-separated torch thread counts to compare, e.g. 1,2 (default: torch's)."),
    ] = None,
    channels_last: Annotated[
        options.KnobChoice,  # type: ignore[valid-type]
        typer.Option(help="Channels-last memory layout: off, on, or both (compare)."),
    ] = options.KnobChoice.off,  # type: ignore[attr-defined]
    compile_model: Annotated[
        options.KnobChoice,  # type: ignore[valid-type]
        typer.Option("--compile", help="torch.compile (inductor) the per-frame path: off, on, or both."),
    ] = options.KnobChoice.off,  # type: ignore[attr-defined]
    engine: Annotated[
        str,
        typer.Option(
            help="Comma-separated engines to compare: torch, onnx (ONNX Runtime on the CPU, on an export "
            "of the same weights; needs tiw's onnx extra), e.g. torch,onnx."
        ),
    ] = "torch",
    profile: Annotated[
        bool,
        typer.Option(
            "--profile", help="Also the time and FLOPs of each part of the model for one frame (batch 1)."
        ),
    ] = False,
    end_to_end: Annotated[
        bool, typer.Option(help="Also time `tiw animate` on a real clip: split per stage, peak memory.")
    ] = True,
    faces: Annotated[
        bool,
        typer.Option(help="End to end: also the default face path (track, crop, paste-back) at 640x360."),
    ] = True,
    clip_frames: Annotated[int, typer.Option(min=8, help="Length of the end-to-end clip.")] = 48,
    long_factor: Annotated[
        int, typer.Option(min=2, help="Memory check: a clip this many times longer.")
    ] = 10,
    precision: options.PrecisionOption = options.PrecisionChoice.auto,  # type: ignore[attr-defined]
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the results as JSON.")] = None,
) -> None:
    """Time the model alone (latency at batch 1, throughput in batches) and end to end."""
    from tiwcli.io.files import check_output_file, write_text_atomically

    if json_path is not None:
        check_output_file(json_path, "--json")  # before the benchmark, whose results it holds
    if not any(name.strip() for name in presets.split(",")):
        from tiwcli.errors import InputError

        raise InputError(f"--presets: expected preset names separated by commas, got {presets!r}")
    engines = parse_engine_list(engine)
    if "onnx" in engines:
        from tiwcli.errors import InputError
        from tiwcli.inference.engines import check_engine
        from tiwcli.inference.onnx_export import require_onnx

        check_engine("onnx", device, precision.value)
        if channels_last.value != "off" or compile_model.value != "off":
            raise InputError("--engine onnx: --channels-last and --compile are torch's; leave them off")
        require_onnx()
    import torch

    from tiwcli.checkpoint import save_model
    from tiwcli.config import model_preset
    from tiwcli.console import make_console
    from tiwcli.evaluation.bench import (
        SpeedKnobs,
        as_dicts,
        machine_state,
        onnx_stand_in,
        profile_modules,
        time_model,
    )
    from tiwcli.evaluation.bench_end_to_end import make_real_clips, time_end_to_end_runs, with_model_alone
    from tiwcli.models import ImplicitWarping
    from tiwcli.runtime import resolve_device

    console = make_console(stderr=True)
    torch_device = resolve_device(device)
    preset_names = [name.strip() for name in presets.split(",") if name.strip()]
    source_counts = parse_int_list(sources, "--sources")
    thread_counts: tuple[int | None, ...] = parse_int_list(threads, "--threads") if threads else (None,)
    knob_sets = [
        SpeedKnobs(threads=count, channels_last=layout, compile=compiled, engine=name)
        for name in engines
        for count in thread_counts
        for layout in _knob_values(channels_last.value)
        for compiled in _knob_values(compile_model.value)
    ]
    before = machine_state()
    _print_machine(console, "before", before)
    model_rows = []
    profile_rows = []
    end_to_end_rows = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        clips = make_real_clips(work, clip_frames, long_factor) if end_to_end else None
        for name in preset_names:
            config = model_preset(name)
            torch.manual_seed(0)
            model = ImplicitWarping(config).to(torch_device).eval()
            for knobs in knob_sets:
                runner = onnx_stand_in(model, work, knobs.threads) if knobs.engine == "onnx" else None
                for count in source_counts:
                    console.print(f"model alone: {name}, {count} source(s), {_describe(knobs)}")
                    model_rows.append(
                        time_model(model, name, count, batch_size, frames, precision.value, knobs, runner)
                    )
            for count in source_counts if profile else ():
                for threads_count in thread_counts:
                    console.print(f"profile: {name}, {count} source(s)")
                    profile_rows += profile_modules(model, name, count, frames, threads_count)
            if clips is None:
                continue
            weights = work / f"{name}.safetensors"
            save_model(weights, model)
            device_type = torch_device.type
            for engine_name in engines:
                end_to_end_rows += time_end_to_end_runs(
                    weights,
                    name,
                    clips,
                    device_type,
                    batch_size,
                    source_counts,
                    thread_counts,
                    faces,
                    console.print,
                    engine_name,
                )
    end_to_end_rows = with_model_alone(end_to_end_rows, model_rows)
    after = machine_state()
    _print_machine(console, "after", after)
    _print_tables(make_console(), model_rows, end_to_end_rows)
    if profile_rows:
        _print_profile(make_console(), profile_rows)
    if before.busy or after.busy:
        console.print(
            "[yellow]the machine was busy (1-minute load average above half the cores): "
            "these figures are contaminated; measure again on a quiet machine[/]"
        )
    if json_path is not None:
        report = {
            "machine_before": as_dicts([before])[0],
            "machine_after": as_dicts([after])[0],
            "model": as_dicts(model_rows),
            "profile": as_dicts(profile_rows),
            "end_to_end": as_dicts(end_to_end_rows),
        }
        write_text_atomically(json_path, json.dumps(report, indent=2))


def _describe(knobs) -> str:  # type: ignore[no-untyped-def]
    parts = [knobs.engine, f"{knobs.threads} thread(s)" if knobs.threads else "default threads"]
    parts += ["channels-last"] * knobs.channels_last + ["compiled"] * knobs.compile
    return ", ".join(parts)


def _print_machine(console, when: str, state) -> None:  # type: ignore[no-untyped-def]
    load = " ".join(f"{value:.2f}" for value in state.load_average)
    console.print(
        f"machine {when}: {state.cpu_count} CPUs ({state.processor}), torch {state.torch_version}, "
        f"torch threads {state.threads}, load average {load} (1, 5, 15 min); allocator: {state.allocator}"
    )


def _print_profile(console, rows) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table(title="Profile: one driving frame (batch 1), exclusive time per part of the model")
    for column in ("preset", "src", "threads", "part", "ms/frame", "share", "GFLOP (by class)"):
        table.add_column(
            column, justify="right", overflow="fold", no_wrap=column in ("preset", "dtype", "load")
        )
    for row in rows:
        table.add_row(
            row.preset, str(row.num_sources), str(row.threads), row.module, f"{row.ms_per_frame:.2f}",
            f"{100 * row.share:.0f}%", "-" if row.gflops_per_frame is None else f"{row.gflops_per_frame:.2f}",
        )  # fmt: skip
    console.print(table)


def _print_tables(console, model_rows, end_to_end_rows) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table(
        title="Model alone, sources encoded once. Latency: 1 frame per call (b=1); throughput: a batch "
        "per call, per frame. onnx: ONNX Runtime; cl: channels-last. load: 1-minute load average before→after"
    )
    columns = (
        "preset", "device", "dtype", "src", "threads", "knobs", "b=1 ms", "b=1 fps", "batch",
        "batched ms", "batched fps", "encode ms", "compile s", "GFLOP", "H100 µs", "CUDA MB", "load",
    )  # fmt: skip
    for column in columns:
        table.add_column(
            column, justify="right", overflow="fold", no_wrap=column in ("preset", "dtype", "load")
        )
    for row in model_rows:
        knobs = (
            "+".join(
                ["onnx"] * (row.engine == "onnx") + ["cl"] * row.channels_last + ["compile"] * row.compiled
            )
            or "-"
        )
        table.add_row(
            row.preset, row.device, row.dtype, str(row.num_sources), str(row.threads), knobs,
            f"{row.latency_ms:.1f}", f"{1000 / row.latency_ms:.1f}", str(row.batch_size),
            f"{row.batched_ms_per_frame:.1f}", f"{row.batched_frames_per_second:.1f}", f"{row.encode_ms:.0f}",
            "-" if row.compile_seconds is None else f"{row.compile_seconds:.0f}",
            f"{row.gflops_per_frame:.2f}", f"{row.h100_floor_us:.1f}",
            "-" if row.peak_memory_mb is None else f"{row.peak_memory_mb:.0f}",
            f"{row.load_before:.2f}→{row.load_after:.2f}",
        )  # fmt: skip
    console.print(table)
    if not end_to_end_rows:
        return
    table = Table(
        title="End to end: tiw animate, own process. x model: ms/frame over the model alone's (same "
        "preset, sources, threads, batch). Split: ms/frame per stage; stages overlap"
    )
    columns = (
        "preset", "device", "src", "input", "frames", "threads", "batch", "ms/frame", "fps",
        "x model", "split ms/frame", "RSS MB", "load",
    )  # fmt: skip
    for column in columns:
        table.add_column(
            column, justify="right", overflow="fold", no_wrap=column in ("preset", "dtype", "load")
        )
    for row in end_to_end_rows:
        split = ", ".join(f"{stage} {value:.1f}" for stage, value in row.split_ms.items())
        table.add_row(
            row.preset + (" (onnx)" if row.engine == "onnx" else ""), row.device, str(row.num_sources),
            "640x360, faces" if row.faces else "256 crop", str(row.frames), str(row.threads),
            str(row.batch_size), f"{row.ms_per_frame:.1f}", f"{row.frames_per_second:.1f}",
            "-" if row.model_alone_ms is None else f"{row.ms_per_frame / row.model_alone_ms:.2f}", split,
            f"{row.peak_rss_mb:.0f}", f"{row.load_before:.2f}→{row.load_after:.2f}",
        )  # fmt: skip
    console.print(table)
