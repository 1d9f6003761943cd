"""In-context learning: the learners and models the ICL labs compare.

- ``baselines``: classical learners of linear functions (least squares, ridge, k-NN,
  averaging, gradient descent and iterative Newton, with their iterate paths), and the
  Bayes posterior predictive;
- ``lsa``: one linear self-attention layer and the weights gradient flow takes it to;
- ``models``: the GPT-style regressor over real-valued tokens (and its Gaussian variant in
  ``uncertainty``); ``probes``: linear read-outs of hidden states, layer by layer;
- ``mesa``: the one-layer linear attention of the mesa-optimisation experiment;
- ``sparse``: Lasso and the oracle-support fit; ``boolean_learners``: elimination, GF(2)
  and decision-list learners; ``ngram``: in-context n-gram statistics and heads;
- ``bandits`` and ``decision``: bandit algorithms and the transformer policy trained on
  their histories; ``classifier``: a GPT-style classifier over vector tokens.
"""
