from alttext.cli import main

raise SystemExit(main())
