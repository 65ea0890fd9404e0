"""One experiment: one task × model × halting × seed trained, evaluated and turned into a record
(`run.run_experiment`, the one call a grid worker or ``looped-hrm train`` makes), and the
throughput measurement of one model (`speed`)."""
