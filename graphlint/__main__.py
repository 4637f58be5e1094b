"""`python -m graphlint` and the `graphlint` command.

`graphlint trace ...` goes straight to the runtime pass, so that tracing a script never pays for
importing the static pass (libcst and the rules); everything else goes to graphlint.cli.
"""
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["trace"]:
        from graphlint.trace.cli import main as trace_main

        return trace_main(argv[1:])
    from graphlint.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
