from app.commands.main import main

raise SystemExit(main())
