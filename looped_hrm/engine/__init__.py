"""The step that training and evaluation share: one segment of a model under a halting policy
(`segment`), the ACT slots that refill halted rows from a queue of examples (`slots`), and the
per-example correctness both score with (`correctness`).

Both `looped_hrm.training` and `looped_hrm.evaluation` import this package and it imports neither,
so the two see exactly the same predictions, correctness and halting rule without an import cycle.
"""
