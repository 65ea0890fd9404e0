"""The grid runner: a benchmark (YAML or command line) expanded into combinations (`grid`, `sweep`,
`defaults`), their compute estimated (`estimate`), run in worker processes or on Ray (`worker`,
`executor`) under one lock per results folder (`lock`), with live progress (`live`)."""
