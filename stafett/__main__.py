from stafett.cli import main

raise SystemExit(main())
