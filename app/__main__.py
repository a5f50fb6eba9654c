try:
    from app.commands.main import main
except KeyboardInterrupt:    # Ctrl-C in the first moments, before main() takes signals over
    import sys
    print("hypnagogia: interrupted by SIGINT while starting: nothing was written", file=sys.stderr)
    raise SystemExit(130) from None

raise SystemExit(main())
