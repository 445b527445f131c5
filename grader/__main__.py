import sys

from grader.cli import main

if __name__ == "__main__":
    try:
        code = main()
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        code = 1
    except Exception as e:  # never exit 0 on an internal error
        import traceback

        traceback.print_exc()
        print(f"grader: internal error: {e}", file=sys.stderr)
        code = 1
    sys.exit(code)
