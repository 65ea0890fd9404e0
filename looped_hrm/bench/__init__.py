"""The benchmark runner: grid expansion (`grid`), workers and executors (`worker`, `executor`),
result tables and plots (`tables`, `plots`), and the command line (`cli`)."""
