"""Reference reproduction of "Distilling Policy Distillation"."""
