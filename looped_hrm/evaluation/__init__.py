"""Evaluation: policy-halted and fixed-segment passes (`evaluate`), their metrics (`metrics`), and
analyses of the recurrent computation (`analyses`). `EvalConfig` lives in `config`."""
