"""Command line: ``python -m d2lmha.grading assign [NN ...]``, ``grade FOLDER [options]`` or
``merge OUT SHARD_DIR...``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv=None) -> int:
    """Run a command; return the exit status (2 with a message on stderr for bad input)."""
    from . import __doc__ as doc
    from .assign import assign
    from .grade import grade
    from .sandbox import Limits, SandboxUnavailable

    parser = argparse.ArgumentParser(
        prog="python -m d2lmha.grading",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p_assign = commands.add_parser("assign", help="regenerate exercises/ from solutions/")
    p_assign.add_argument("sets", nargs="*", help="set ids such as 01 (default: all)")
    p_assign.add_argument(
        "--no-execute", action="store_true", help="store the student notebook without outputs"
    )
    p_grade = commands.add_parser("grade", help="grade a folder (or .zip) of submitted notebooks")
    p_grade.add_argument("folder", type=Path, help="a folder or a .zip as the LMS exports it")
    # Defaults from the environment, so `make grade SUBMISSIONS=x GRADE_TIMEOUT=300` works.
    p_grade.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("GRADE_TIMEOUT") or 120),
        help="seconds per submission (default $GRADE_TIMEOUT or 120)",
    )
    p_grade.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ["GRADE_JOBS"]) if os.environ.get("GRADE_JOBS") else None,
        help="sandboxes at once (default $GRADE_JOBS or the CPUs this process may use)",
    )
    p_grade.add_argument(
        "--cell-timeout",
        type=float,
        default=None,
        help="seconds one cell may run before it is skipped (default: half of --timeout)",
    )
    p_grade.add_argument(
        "--memory-gib",
        type=float,
        default=Limits.memory / 2**30,
        help="address space per process in a sandbox, GiB (default 4)",
    )
    p_grade.add_argument(
        "--out", type=Path, help="CSV path (default grading_output/FOLDER/scores.csv)"
    )
    p_grade.add_argument(
        "--resume",
        action="store_true",
        help="keep the rows an earlier, interrupted run of the same --out finished",
    )
    p_grade.add_argument(
        "--roster",
        type=Path,
        help="CSV with student_id and match columns (default: students from the LMS's names)",
    )
    p_grade.add_argument(
        "--shard",
        help="i/n: grade only shard i (0 <= i < n) of the files; join shards with merge",
    )
    p_grade.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="grade without bubblewrap: only for submissions you trust",
    )
    p_merge = commands.add_parser("merge", help="join the outputs of grade --shard i/n")
    p_merge.add_argument("out", type=Path, help="folder to write the joined grading to")
    p_merge.add_argument("shards", type=Path, nargs="+", help="each shard's output folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "assign":
            for path in assign(args.sets, execute=not args.no_execute):
                print(path)
        elif args.command == "merge":
            from .shard import merge

            print(merge(args.out, args.shards)[0])
        else:
            print(
                grade(
                    args.folder,
                    timeout=args.timeout,
                    out=args.out,
                    jobs=args.jobs,
                    memory=int(args.memory_gib * 2**30),
                    cell_timeout=args.cell_timeout,
                    unsafe_no_sandbox=args.unsafe_no_sandbox,
                    resume=args.resume,
                    roster=args.roster,
                    shard=args.shard,
                )
            )
    except (ValueError, SandboxUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
