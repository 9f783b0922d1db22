from ray_graded_penalty.cli import main

raise SystemExit(main())
