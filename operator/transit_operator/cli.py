"""Command line: `transit-operator {crds,plan,emulator,run,diagnose,sandbox}`.

Each sub-command's implementation lives beside the layer it belongs to and is imported lazily, so
`transit-operator plan` never loads kopf or the Azure SDKs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="transit-operator",
        description="Databricks Serverless -> Confluent Cloud private connectivity on Azure.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    crds = sub.add_parser("crds", help="print the CustomResourceDefinitions generated from the API models")
    crds.add_argument("--write", action="append", default=None, metavar="DIR",
                      help="write one file per kind into DIR instead of printing (repeatable)")

    plan = sub.add_parser("plan", help="print the desired cloud state for CRs, offline (no I/O)")
    plan.add_argument("-f", "--filename", action="append", required=True, metavar="FILE",
                      help="YAML file with one or more CRs ('-' for stdin); repeatable")
    plan.add_argument("-o", "--output", choices=["json", "yaml"], default="yaml")

    emulator = sub.add_parser("emulator", help="serve the sandbox cloud (ARM + Databricks) on 127.0.0.1")
    emulator.add_argument("--port", type=int, default=0, help="HTTPS port (0 picks a free one)")
    emulator.add_argument("--state-dir", default=None, help="persist emulated cloud state here")
    emulator.add_argument("--dataplane", action="store_true",
                          help="VMSS instances are network namespaces running HAProxy (needs root)")

    from transit_operator.runtime.options import add_run_arguments, add_timing_arguments

    add_timing_arguments(emulator)

    run = sub.add_parser("run", help="run the operator against the current Kubernetes context")
    add_run_arguments(run)

    from transit_operator.runtime.diagnose import add_diagnose_arguments

    diagnose = sub.add_parser("diagnose", help="diagnose a ServerlessTransit's data path hop by hop (reads only)")
    add_diagnose_arguments(diagnose)

    sandbox = sub.add_parser("sandbox", help="emulated Kubernetes + cloud + operator, applying example CRs")
    sandbox.add_argument("-f", "--filename", action="append", default=None, metavar="FILE",
                         help="CR files to apply (default: the examples)")
    sandbox.add_argument("--until-ready", action="store_true", help="exit 0 once every object is Ready")
    sandbox.add_argument("--timeout", type=float, default=300.0, help="seconds before --until-ready gives up")
    sandbox.add_argument("--dataplane", action="store_true",
                         help="run real HAProxy in network namespaces for VMSS instances (needs root)")
    sandbox.add_argument("--kube", choices=["embedded", "real"], default="embedded",
                         help="Kubernetes API: the embedded emulator (default, no Go needed) or a real "
                              "kube-apiserver + etcd on loopback (built by `scripts/dev bootstrap`)")
    add_timing_arguments(sandbox, operator=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "crds":
        from transit_operator.api.crd import render_crds_yaml, write_crds

        if not args.write:
            sys.stdout.write(render_crds_yaml())
        for directory in args.write or ():
            for path in write_crds(Path(directory)):
                print(f"wrote {path}", file=sys.stderr)
        return 0
    if args.command == "plan":
        from transit_operator.plan.command import run_plan

        return run_plan(args.filename, args.output)
    if args.command == "emulator":
        from transit_sandbox.server import serve_forever

        return serve_forever(port=args.port, state_dir=args.state_dir, dataplane=args.dataplane,
                             timing=args.timing, time_scale=args.time_scale)
    if args.command == "run":
        from transit_operator.runtime.main import run_operator

        return run_operator(args)
    if args.command == "diagnose":
        from transit_operator.runtime.diagnose import run_diagnose

        return run_diagnose(args)
    if args.command == "sandbox":
        from transit_operator.runtime.sandbox import run_sandbox

        return run_sandbox(args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
