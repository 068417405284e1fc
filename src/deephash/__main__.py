from deephash.cli import main

raise SystemExit(main())
