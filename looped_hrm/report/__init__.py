"""What reads finished runs: the records a table may use (`records`), result tables with their
intervals (`tables`, `intervals`), plots (`plots`), CI floors (`floors`), and a look inside the trained
models (`restore`, `analyze`)."""
