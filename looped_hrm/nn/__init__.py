"""Shared layers: every built-in model is a different schedule of the same modules.

* `init` — truncated-normal (LeCun) initialisation with the corrected std of the official code
* `layers` — bias-free casted linear/embedding (fp32 master weights), RMSNorm without scale, SwiGLU,
  the compute dtype (``forward_dtype``)
* `rope` — rotary position embedding; `attention` — non-causal MHA through SDPA
* `blocks` — the post-norm block (attention or TRM's token-mixing MLP) and the reasoning module
  (a block stack with input injection by addition)
* `conv` — bias-free 1-D/2-D convolutions and the ResNet basic block (DeepThinking nets: size-free mixing)
* `sequence_io` — the shared architecture config, input encoding (tokens, puzzle embedding,
  positions) and output heads (tokens, Q)
* `reasoner` — `Reasoner`, the base class implementing the common half of the ReasoningModel contract
* `refinement` — `refine`: a step looped up to K times with per-example early stopping (inner
  halting) and truncated gradients
* `flops` — FLOP accounting for ``python -m looped_hrm info``
* `losses` — stablemax and softmax cross-entropy
"""
