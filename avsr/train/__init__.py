"""Training recipes (floor 2): thin LightningModules and one recipe per stage, each a library
function ``train_x(config)`` behind ``avsr train x CONFIG``.

- :mod:`~avsr.train.base`: what the recipes share (``RunConfig`` base, optimiser and schedule, resumable fit);
- :mod:`~avsr.train.vsr`: lip reading stage 1; :mod:`~avsr.train.p2t`: stage 2 (LoRA LLM);
- :mod:`~avsr.train.av`: adapter sets (+ fusion); :mod:`~avsr.train.classifier`: the noise classifier.
"""

__all__ = ["common", "vsr", "p2t", "av", "classifier"]
