import os
import sys

from grader.cli import main

if __name__ == "__main__":
    try:
        code = main()
        sys.stdout.flush()
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        code = 1
    except BrokenPipeError:
        # the reader went away (`... | head`): not an error of ours; keep Python from
        # complaining again when it flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    except Exception as e:  # never exit 0 on an internal error
        import traceback

        traceback.print_exc()
        print(f"grader: internal error: {e}", file=sys.stderr)
        code = 1
    sys.exit(code)
