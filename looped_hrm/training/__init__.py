"""The training engine: segments with deep supervision, HRM's ACT carry (with a queue: no example
dropped), any halting policy, Adam-atan2/AdamW, EMA, checkpoints and resume.

The runner's entry point is `looped_hrm.experiment.run.run_experiment`; `config.TrainConfig`
documents every knob. The segment step and the slots it shares with evaluation live in
`looped_hrm.engine`.
"""
