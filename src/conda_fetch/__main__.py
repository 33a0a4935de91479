from conda_fetch.cli import main

raise SystemExit(main())
