from ray_graded_penalty._cli import main

raise SystemExit(main())
