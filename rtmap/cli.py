"""The ``rtmap`` command: one subcommand per job, every user error one line and exit status 2."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from .errors import RtmapError
from .params import MachineParams

USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's default prints usage too: keep it to one line
        raise RtmapError(f"{self.prog}: {message}")


def _add_machine(parser: argparse.ArgumentParser) -> None:
    defaults = MachineParams()
    group = parser.add_argument_group("machine parameters")
    for name in ("rows", "tracks", "domains", "shift_latency", "program_depth"):
        group.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name),
                           metavar="N", help=f"(default {getattr(defaults, name)})")


def _machine(args: argparse.Namespace) -> MachineParams:
    return MachineParams(rows=args.rows, tracks=args.tracks, domains=args.domains,
                         shift_latency=args.shift_latency, program_depth=args.program_depth)


def _cmd_verilog(args: argparse.Namespace) -> None:
    from .hw.verilog import write_verilog
    from .program import check_params, load_program

    params = _machine(args)
    program = None
    if args.program:
        loaded = load_program(args.program)
        check_params(loaded, params)
        program = loaded.words
    out = Path(args.output) / "rtmap_top.v"
    _make_dir(out.parent)
    write_verilog(params, out, program=program)
    print(f"wrote {out} (rows={params.rows} tracks={params.tracks} domains={params.domains})")


def _cmd_compile(args: argparse.Namespace) -> None:
    from .compiler.pipeline import compile_layer
    from .sim.layer import load_layer

    layer = load_layer(args.layer)
    compiled = compile_layer(layer, _machine(args), args.active_rows)
    _make_dir(Path(args.output))
    hex_path, json_path = compiled.program.save(args.output)
    stats, ops = compiled.program.meta["stats"], compiled.program.meta["ops"]
    print(f"wrote {hex_path} ({len(compiled.program.words)} words) and {json_path}")
    print(f"per run of {compiled.plan.active_rows} rows: " +
          " ".join(f"{k}={v}" for k, v in stats.items()) +
          (f" maxima={ops['max']}" if ops["max"] else
           f" adds={ops['add']} (folded {ops['add_naive']})"))
    if args.report:
        from .compiler.report import format_report, layer_report

        print(format_report([layer_report(Path(args.layer).stem, layer, compiled)]))


def _cmd_run(args: argparse.Namespace) -> None:
    from .run import run_layer
    from .sim.layer import check_input, load_input, load_layer

    layer = load_layer(args.layer)
    x = check_input(layer, load_input(args.input), where=Path(args.input).name)
    build_dir = Path(args.build_dir) if args.build_dir else None
    result = run_layer(layer, x, args.backend, _machine(args), build_dir=build_dir,
                       simulator=args.simulator)
    out = Path(args.output)
    _make_dir(out.parent)
    np.save(out, result.output)
    print(f"wrote {out}: {result.output.dtype} {tuple(result.output.shape)} ({args.backend})")
    if result.stats:
        print(" ".join(f"{k}={result.stats[k]}" for k in
                       ("cycles", "searches", "writes", "shifts", "io_words", "runs")))
    if args.stats:
        stats_path = Path(args.stats)
        _make_dir(stats_path.parent)
        stats_path.write_text(json.dumps({"backend": args.backend, **result.stats}, indent=2))


def _cmd_run_network(args: argparse.Namespace) -> None:
    from .run import run_network
    from .sim.layer import load_input
    from .sim.network import check_network_input, load_network

    network = load_network(args.model)
    x = load_input(args.input)
    check_network_input(network, x, where=Path(args.input).name)
    build_dir = Path(args.build_dir) if args.build_dir else None
    result = run_network(network, x, args.backend, _machine(args), build_dir=build_dir,
                         simulator=args.simulator, chain=not args.no_chain)
    out = Path(args.output)
    _make_dir(out.parent)
    np.save(out, result.output)
    print(f"wrote {out}: {result.output.dtype} {tuple(result.output.shape)} ({args.backend}, "
          f"{result.stats['images']} image{'s' if result.stats['images'] > 1 else ''})")
    if args.backend != "golden":
        print(format_network_stats(result.stats))
    if args.stats:
        stats_path = Path(args.stats)
        _make_dir(stats_path.parent)
        stats_path.write_text(json.dumps(result.stats, indent=2))


def format_network_stats(stats: dict) -> str:
    """A line per layer (runs, cycles, activation words in and out) and the totals."""
    lines = [f"{'layer':>12} {'kind':>15} {'runs':>6} {'cycles':>12} {'words in':>10} "
             f"{'words out':>10}"]
    for layer in stats["layers"]:
        if "cycles" not in layer:  # a flatten: the host reshapes, nothing moves
            lines.append(f"{layer['name']:>12} {layer['kind']:>15}")
            continue
        lines.append(f"{layer['name']:>12} {layer['kind']:>15} {layer['runs']:>6} "
                     f"{layer['cycles']:>12} {layer['words_in']:>10} {layer['words_out']:>10}"
                     + (f"  outputs read out: {layer['not_chained']}"
                        if "not_chained" in layer else ""))
    lines.append(f"{'total':>12} {'':>15} {'':>6} {stats['cycles']:>12} "
                 f"{stats['words_in']:>10} {stats['words_out']:>10}")
    return "\n".join(lines)


def _cmd_fpga_run(args: argparse.Namespace) -> None:
    from .fpga import LinkClient, open_serial
    from .run import run_layer
    from .sim.layer import check_input, load_input, load_layer

    layer = load_layer(args.layer)
    x = check_input(layer, load_input(args.input), where=Path(args.input).name)
    port = open_serial(args.port, args.baud)
    with port:
        link = LinkClient(port)
        params = link.connect()
        print(f"{args.port}: a {params.rows} x {params.tracks} x {params.domains} processor, "
              f"program depth {params.program_depth}")
        result = run_layer(layer, x, "fpga", link=link)
    out = Path(args.output)
    _make_dir(out.parent)
    np.save(out, result.output)
    print(f"wrote {out}: {result.output.dtype} {tuple(result.output.shape)} (fpga)")
    print(" ".join(f"{k}={result.stats[k]}" for k in
                   ("cycles", "searches", "writes", "shifts", "io_words", "runs")))
    if args.stats:
        stats_path = Path(args.stats)
        _make_dir(stats_path.parent)
        stats_path.write_text(json.dumps({"backend": "fpga", **result.stats}, indent=2))


def _cmd_fpga_build(args: argparse.Namespace) -> None:
    from .hw.boards import board_named
    from .hw.boards.build import build, family_tools, format_report, plan
    from .hw.boards.fit import board_array

    board = board_named(args.board)
    params = board_array(board, rows=args.rows, tracks=args.tracks, domains=args.domains,
                         shift_latency=args.shift_latency, program_depth=args.program_depth)
    out = Path(args.output) / board.name
    if args.plan_only:
        build_plan, clock = plan(board, params, args.target_mhz, args.baud)
        build_plan.extract(out)
        print(f"wrote the {board.name} build files to {out} ({params.rows} x {params.tracks} x "
              f"{params.domains} at {clock.mhz:g} MHz); to build them: cd {out} && "
              f"{' '.join(family_tools(board))} sh {build_plan.script}.sh")
        return
    print(f"building {board.title}: {params.rows} x {params.tracks} x {params.domains} "
          f"(log: {out / 'build.log'})", flush=True)
    report = build(board, params, out, args.target_mhz, args.baud, args.seed)
    print(format_report(report))
    print(f"wrote {out / 'report.json'}")


def _cmd_random(args: argparse.Namespace) -> None:
    from .sim.layer import save_layer
    from .sim.random_layer import random_input, random_layer

    if not 0.0 <= args.zero_fraction <= 1.0:
        raise RtmapError(f"--zero-fraction {args.zero_fraction} is outside 0..1")
    if args.kind in ("linear", "add") and (args.stride, args.padding) != (1, 0):
        raise RtmapError("--stride and --padding apply to --kind conv2d and maxpool only")
    if args.kind == "maxpool" and args.levels:
        raise RtmapError("--levels does not apply to --kind maxpool (its outputs are inputs)")
    rng = np.random.default_rng(args.seed)
    layer = random_layer(rng, kind=args.kind, out_channels=args.out_channels,
                         in_channels=args.in_channels, kernel=tuple(args.kernel),
                         stride=args.stride, padding=args.padding, in_bits=args.in_bits,
                         zero_fraction=args.zero_fraction, thresholds_levels=args.levels)
    out = Path(args.layer)
    _make_dir(out.parent)
    save_layer(layer, out)
    if layer.kind == "maxpool":
        what = f"{layer.pool[0]}x{layer.pool[1]} window over {layer.channels} channels"
    elif layer.kind == "add":
        what = f"{layer.channels} + {layer.channels} channels"
    else:
        what = f"weights {tuple(layer.weights.shape)}"
    print(f"wrote {out}: {layer.kind} {what}, in_bits={layer.in_bits}"
          + (f", {args.levels} threshold levels" if args.levels else ""))
    if args.input:
        x = random_input(rng, layer, batch=args.batch, height=args.height, width=args.width)
        _make_dir(Path(args.input).parent)
        np.save(args.input, x)
        print(f"wrote {args.input}: uint8 {tuple(x.shape)}")


def _cmd_energy(args: argparse.Namespace) -> None:
    from .sim.energy import network_energy
    from .sim.energy_report import format_energy_report

    _check_png(args.plot)
    costs, shapes, layers, zero_fraction = _energy_inputs(args)
    # Energy does not depend on the program memory: layers are counted whatever their size.
    params = replace(_machine(args), program_depth=1 << 24)
    report = network_energy(shapes, params, costs, zero_fraction=zero_fraction,
                            arrays=args.arrays, seed=args.seed, jobs=args.jobs, layers=layers)
    print(format_energy_report(args.network, report))
    if args.json:
        path = Path(args.json)
        _make_dir(path.parent)
        path.write_text(json.dumps({"network": args.network, **report}, indent=2))
        print(f"wrote {path}")
    if args.plot:
        from .sim.energy_plot import plot_energy_report

        print(f"wrote {plot_energy_report(args.network, report, args.plot)}")


def _cmd_sweep(args: argparse.Namespace) -> None:
    from .sim.sweep import format_sweep, sweep, write_sweep_csv

    _check_png(args.plot)
    costs, shapes, layers, zero_fraction = _energy_inputs(args)
    base = MachineParams(shift_latency=args.shift_latency, program_depth=1 << 24)
    points = sweep(shapes, base, args.rows, args.tracks, args.domains, costs,
                   zero_fraction=zero_fraction, seed=args.seed, jobs=args.jobs, layers=layers)
    print(format_sweep(points))
    print(f"wrote {write_sweep_csv(points, args.output)}")
    if args.plot:
        from .sim.energy_plot import plot_pareto

        if not any(point["pareto"] for point in points):
            raise RtmapError("no design point of the sweep can run the network: nothing to plot")
        print(f"wrote {plot_pareto(args.network, points, args.plot)}")


def _energy_inputs(args: argparse.Namespace):
    """What energy and sweep count: the cost file, the layer shapes, the real layers (None for
    a built-in network, whose weights are drawn) and the fraction of zero weights."""
    from .compiler.networks import NETWORKS, network_file_shapes
    from .sim.energy import ZERO_FRACTION, load_costs
    from .sim.network import load_network

    costs = load_costs(args.params)
    if args.network in NETWORKS:
        if not 0 <= args.zero_fraction < 1:
            raise RtmapError(f"--zero-fraction {args.zero_fraction} is not in [0, 1)")
        shapes = [shape.scaled(args.size) if args.size else shape
                  for shape in NETWORKS[args.network]()]
        return costs, shapes, None, args.zero_fraction
    if not args.network.endswith(".npz") and not Path(args.network).exists():
        raise RtmapError(f"unknown network {args.network!r}: give one of "
                         f"{', '.join(sorted(NETWORKS))} or a network .npz file")
    for option, value, default in (("--size", args.size, None),
                                   ("--zero-fraction", args.zero_fraction, ZERO_FRACTION)):
        if value != default:
            raise RtmapError(f"{option} applies to the built-in networks; a network file has "
                             "its own input size and weights")
    shapes, layers = network_file_shapes(load_network(args.network))
    weights = [layer.weights for layer in layers if layer.kind in ("conv2d", "linear")]
    zeros = sum(int((w == 0).sum()) for w in weights) / max(1, sum(w.size for w in weights))
    return costs, shapes, layers, zeros


def _check_png(path: str | None) -> None:
    """Before any work (a sweep takes minutes): a plot must be named FILE.png."""
    from .sim.energy_plot import check_plot_path

    if path is not None:
        check_plot_path(path)


def _positive_list(text: str) -> list[int]:
    values = [item.strip() for item in text.split(",")]
    if not all(item.isdigit() and int(item) > 0 for item in values):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of positive "
                                         "integers")
    return sorted({int(item) for item in values})


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def _positive(text: str) -> int:
    value = int(text) if text.lstrip("-").isdigit() else None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _add_energy_options(p: argparse.ArgumentParser) -> None:
    from .compiler.networks import NETWORKS
    from .sim.energy import ZERO_FRACTION

    p.add_argument("network", metavar="NETWORK",
                   help=f"{', '.join(sorted(NETWORKS))}, or a network .npz file (as "
                   "rtmap run-network takes)")
    p.add_argument("--params", metavar="COSTS.toml",
                   help="per-operation costs (default: the shipped sim/energy_costs.toml)")
    p.add_argument("--size", type=_positive, metavar="S",
                   help="scale every input down to at most S x S (a quick estimate)")
    p.add_argument("--zero-fraction", type=float, default=ZERO_FRACTION, metavar="F",
                   help=f"fraction of the random ternary weights that are zero "
                   f"(default {ZERO_FRACTION})")
    p.add_argument("--jobs", type=_positive, default=1, help="compile in N processes")
    p.add_argument("--seed", type=int, default=0)


def _cmd_disasm(args: argparse.Namespace) -> None:
    from .asm import disassemble
    from .program import load_program

    program = load_program(args.program)
    print(disassemble(program.words, program.params))


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RtmapError(f"cannot create directory {path}: {exc.strerror}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rtmap", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("verilog", help="write the processor's Verilog (DIR/rtmap_top.v)")
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    p.add_argument("--program", metavar="HEX", help="initialise program memory from a program")
    _add_machine(p)
    p.set_defaults(func=_cmd_verilog)

    p = sub.add_parser("compile", help="compile a TWN layer to DIR/program.hex and program.json")
    p.add_argument("layer", metavar="LAYER.npz")
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    p.add_argument("--active-rows", type=int, metavar="N",
                   help="output positions per run (default: all rows)")
    p.add_argument("--report", action="store_true",
                   help="print the layer's costs: adds before and after CSE, passes, shifts, "
                        "cycles, activation words in and out")
    _add_machine(p)
    p.set_defaults(func=_cmd_compile)

    p = sub.add_parser("run", help="run a layer on the golden model, the simulator or the RTL")
    p.add_argument("layer", metavar="LAYER.npz")
    p.add_argument("--input", required=True, metavar="X.npy")
    p.add_argument("-o", "--output", required=True, metavar="Y.npy")
    p.add_argument("--backend", choices=("golden", "sim", "rtl"), default="golden")
    p.add_argument("--stats", metavar="STATS.json", help="write counters and run statistics")
    p.add_argument("--build-dir", metavar="DIR", help="where rtl builds live (default build/rtl)")
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator",
                   help="HDL simulator for --backend rtl (default verilator)")
    _add_machine(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("run-network", help="run a network file on the golden model, the "
                       "simulator or the RTL, layer after layer")
    p.add_argument("model", metavar="MODEL.npz")
    p.add_argument("--input", required=True, metavar="X.npy",
                   help="one input of the network's input shape, or a batch (N, ...)")
    p.add_argument("-o", "--output", required=True, metavar="Y.npy")
    p.add_argument("--backend", choices=("golden", "sim", "rtl"), default="golden")
    p.add_argument("--stats", metavar="STATS.json",
                   help="write every layer's counters and activation words moved")
    p.add_argument("--no-chain", action="store_true",
                   help="read every layer's outputs out, even where the next layer could "
                   "take them in the array")
    p.add_argument("--build-dir", metavar="DIR", help="where rtl builds live (default build/rtl)")
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator",
                   help="HDL simulator for --backend rtl (default verilator)")
    _add_machine(p)
    p.set_defaults(func=_cmd_run_network)

    p = sub.add_parser("fpga", help="the FPGA prototype: run layers on a board over its UART")
    fpga = p.add_subparsers(dest="fpga_command", required=True, parser_class=_Parser)
    p = fpga.add_parser("run", help="run a layer on the board (its machine parameters come "
                        "from the board)")
    p.add_argument("layer", metavar="LAYER.npz")
    p.add_argument("--input", required=True, metavar="X.npy")
    p.add_argument("-o", "--output", required=True, metavar="Y.npy")
    p.add_argument("--port", required=True, metavar="DEVICE", help="e.g. /dev/ttyUSB0")
    p.add_argument("--baud", type=_positive, default=115_200,
                   help="the board's baud rate (default 115200)")
    p.add_argument("--stats", metavar="STATS.json", help="write counters and run statistics")
    p.set_defaults(func=_cmd_fpga_run)
    p = fpga.add_parser("build", help="build a board's bitstream (YoWASP tools) and report its "
                        "Fmax and resources (DIR/BOARD/report.json)")
    p.add_argument("--board", required=True, metavar="NAME", help="ulx3s or icebreaker")
    p.add_argument("-o", "--output", default="build/fpga", metavar="DIR",
                   help="build directory; the board's files go to DIR/BOARD (default build/fpga)")
    p.add_argument("--target-mhz", type=_positive_float, metavar="F",
                   help="core clock the PLL makes and timing must close at (default: the "
                   "board's constraints file)")
    p.add_argument("--baud", type=_positive, help="UART baud rate (default: the constraints file)")
    p.add_argument("--seed", type=_positive, default=1, help="nextpnr placement seed (default 1)")
    p.add_argument("--plan-only", action="store_true",
                   help="write the build files and script without running the tools")
    group = p.add_argument_group("machine parameters (default: the board's array, or the largest "
                                 "that fits its part)")
    for name in ("rows", "tracks", "domains", "shift_latency", "program_depth"):
        group.add_argument(f"--{name.replace('_', '-')}", type=int, metavar="N")
    p.set_defaults(func=_cmd_fpga_build)

    p = sub.add_parser("random", help="write a random ternary layer (and an input) to try things")
    p.add_argument("layer", metavar="LAYER.npz")
    p.add_argument("--kind", choices=("linear", "conv2d", "maxpool", "add"), default="linear")
    p.add_argument("--out-channels", type=_positive, default=8, metavar="K",
                   help="output channels (add: the channels of each of its two inputs)")
    p.add_argument("--in-channels", type=_positive, default=8, metavar="C",
                   help="input channels (maxpool: its channels)")
    p.add_argument("--kernel", type=_positive, nargs=2, default=(3, 3), metavar=("KH", "KW"),
                   help="conv2d kernel or maxpool window")
    p.add_argument("--stride", type=_positive, default=1)
    p.add_argument("--padding", type=int, default=0)
    p.add_argument("--in-bits", type=_positive, default=4)
    p.add_argument("--levels", type=_positive, metavar="L",
                   help="add thresholds with L levels (outputs 0..L)")
    p.add_argument("--zero-fraction", type=float, default=0.4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input", metavar="X.npy", help="also write a random input for the layer")
    p.add_argument("--batch", type=_positive, metavar="N")
    p.add_argument("--height", type=_positive, metavar="H")
    p.add_argument("--width", type=_positive, metavar="W")
    p.set_defaults(func=_cmd_random)

    p = sub.add_parser("energy", help="energy and latency of a built-in network on this machine "
                       "and on the SRAM-CAM AP and crossbar baselines")
    _add_energy_options(p)
    p.add_argument("--arrays", type=_positive, metavar="N",
                   help="arrays on the chip, running N runs of a layer at once (default: as "
                   "many as the layer with the most output positions needs)")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    p.add_argument("--plot", metavar="FILE.png",
                   help="also draw the per-layer breakdown and the comparison")
    _add_machine(p)
    p.set_defaults(func=_cmd_energy)

    p = sub.add_parser("sweep", help="the energy model over machine sizes: a CSV and a Pareto "
                       "plot of energy against latency")
    _add_energy_options(p)
    default = MachineParams()
    for name, values in (("rows", "64,256,1024"), ("tracks", "64,128,256"),
                         ("domains", "24,32")):
        p.add_argument(f"--{name}", type=_positive_list, default=_positive_list(values),
                       metavar="N,N,...", help=f"values to sweep (default {values})")
    p.add_argument("--shift-latency", type=int, default=default.shift_latency, metavar="N",
                   help=f"cycles a shift takes (default {default.shift_latency})")
    p.add_argument("-o", "--output", default="sweep.csv", metavar="FILE.csv",
                   help="the CSV to write (default sweep.csv)")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the Pareto plot")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("disasm", help="print a program readably")
    p.add_argument("program", metavar="program.hex")
    p.set_defaults(func=_cmd_disasm)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        args.func(args)
    except RtmapError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:  # e.g. `rtmap disasm p.hex | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush is quiet
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
