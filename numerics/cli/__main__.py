import sys

try:
    from . import main
except KeyboardInterrupt:  # before main() took over the interrupts
    print("sharpness: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
