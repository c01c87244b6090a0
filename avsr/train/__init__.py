"""Training recipes on Lightning. Thin: LightningModules receive built models; no model code here."""
