import sys


def main() -> None:
    print("omproxy-tui is not built yet (see the open issue 'omproxy-tui, part 1').", file=sys.stderr)
    sys.exit(2)
